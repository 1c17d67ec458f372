import { screen, within } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import { SKI_ID, skiHit } from "../test/data";
import { fakeServer, json, problem } from "../test/fakeServer";
import { openAt } from "../test/render";

describe("Search", () => {
  test("sends the query with its filters and shows hits with marked words linking to the exact message", async () => {
    const server = fakeServer({ "POST /v1/search": () => json({ query: "skiing", hits: [skiHit], took_ms: 12.3 }) });
    const { user } = openAt("/");
    expect(screen.getByText("Search your conversations")).toBeInTheDocument();

    await user.type(screen.getByLabelText("Search conversations"), "skiing Colorado");
    await user.click(screen.getByText(/^Filters/));
    await user.type(screen.getByLabelText("Author"), "Kate");
    await user.type(screen.getByLabelText("Source"), "whatsapp");
    await user.type(screen.getByLabelText("From"), "last week");
    await user.keyboard("{Enter}");

    const title = await screen.findByRole("link", { name: "Planning the ski trip" });
    expect(server.of("POST", "/v1/search")[0]?.body).toEqual({
      query: "skiing Colorado",
      top_k: 20,
      author: "Kate",
      source: "whatsapp",
      since: "last week",
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    });
    // The first turn matches most words, so the title opens the conversation there.
    expect(title).toHaveAttribute("href", `/conversations/${SKI_ID}?highlight=1%2C2%2C3#m-1`);
    const marks = document.querySelectorAll(".turn.best mark");
    expect([...marks].map((m) => m.textContent)).toEqual(["skiing", "Colorado"]);
    const open = screen.getByRole("link", { name: "Open message from Elise in “Planning the ski trip”" });
    expect(open).toHaveAttribute("href", `/conversations/${SKI_ID}?highlight=1%2C2%2C3#m-2`);
    expect(screen.getByText("1 hit in 12 ms")).toBeInTheDocument();
  });

  test("a URL with a query searches at once, so results survive reload and Back", async () => {
    const server = fakeServer({ "POST /v1/search": () => json({ query: "resort", hits: [skiHit], took_ms: 3 }) });
    openAt("/?q=resort&conversation=ski-trip-2024");
    await screen.findByRole("link", { name: "Planning the ski trip" });
    expect(server.of("POST", "/v1/search")[0]?.body).toMatchObject({ query: "resort", conversation_id: "ski-trip-2024" });
    expect(screen.getByLabelText("Search conversations")).toHaveValue("resort");
    expect(screen.getByLabelText("Conversation")).toHaveValue("ski-trip-2024");
  });

  test("no hits: says so and suggests what to do", async () => {
    fakeServer({ "POST /v1/search": () => json({ query: "zebra", hits: [], took_ms: 2 }) });
    openAt("/?q=zebra");
    expect(await screen.findByText("No matches for “zebra”")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "import more conversations" })).toHaveAttribute("href", "/import");
  });

  test("an error shows the server's detail, and Try again repeats the search", async () => {
    let attempts = 0;
    fakeServer({
      "POST /v1/search": () =>
        ++attempts === 1
          ? problem(422, "since: Input should be a valid datetime", "Invalid input")
          : json({ query: "x", hits: [skiHit], took_ms: 1 }),
    });
    const { user } = openAt("/?q=x");
    const alert = await screen.findByRole("alert");
    expect(within(alert).getByText(/Input should be a valid datetime/)).toBeInTheDocument();
    await user.click(within(alert).getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("link", { name: "Planning the ski trip" })).toBeInTheDocument();
  });

  test("a 401 points the person to Settings to enter a token", async () => {
    fakeServer({ "POST /v1/search": () => problem(401, "an API token is required", "Unauthorized") });
    openAt("/?q=x");
    const alert = await screen.findByRole("alert");
    expect(within(alert).getByRole("link", { name: "Set an API token in Settings" })).toHaveAttribute("href", "/settings");
  });

  test("when no hit is a strong match it says nothing is close and still shows the nearest turns", async () => {
    const weak = { ...skiHit, match: "weak" as const, relevance: 0.02 };
    fakeServer({ "POST /v1/search": () => json({ query: "tax", hits: [weak], took_ms: 3, relevant: false }) });
    openAt("/?q=tax");
    expect(await screen.findByText("Nothing close; the nearest turns are:")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Planning the ski trip" })).toBeInTheDocument();
  });

  test("a strong hit shows no such notice", async () => {
    const strong = { ...skiHit, match: "strong" as const, relevance: 0.97 };
    fakeServer({ "POST /v1/search": () => json({ query: "ski", hits: [strong], took_ms: 3, relevant: true }) });
    openAt("/?q=ski");
    expect(await screen.findByRole("link", { name: "Planning the ski trip" })).toBeInTheDocument();
    expect(screen.queryByText("Nothing close; the nearest turns are:")).toBeNull();
  });
});
