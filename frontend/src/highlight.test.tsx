import { render } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import { Highlighted, countMatches, queryTerms } from "./highlight";

describe("marking the query's words", () => {
  test("stop words drop out and word endings are trimmed so related forms match", () => {
    expect(queryTerms("When did Kate go skiing in Colorado?")).toEqual(["kate", "go", "ski", "colorado"]);
  });

  test("matches are marked at word starts, case-insensitively, and the text is otherwise untouched", () => {
    const { container } = render(
      <p>
        <Highlighted text="Skiing? Kate skis; Skateboards no." terms={queryTerms("ski kate")} />
      </p>,
    );
    expect([...container.querySelectorAll("mark")].map((m) => m.textContent)).toEqual(["Skiing", "Kate", "skis"]);
    expect(container.textContent).toBe("Skiing? Kate skis; Skateboards no.");
  });

  test("characters that mean something in a regular expression are taken literally", () => {
    const { container } = render(<Highlighted text="costs $12 (c++)" terms={queryTerms("c++ $12")} />);
    expect([...container.querySelectorAll("mark")].map((m) => m.textContent)).toEqual(["12"]);
  });

  test("distinct terms are counted once each", () => {
    expect(countMatches("embargo, embargo lifts", queryTerms("press embargo lift"))).toBe(2);
  });
});
