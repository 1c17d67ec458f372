import { screen, within } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import type { Answer } from "../api/types";
import { SKI_ID, skiHit } from "../test/data";
import { eventStream, fakeServer, json, problem } from "../test/fakeServer";
import { openAt } from "../test/render";

function answer(overrides: Partial<Answer> = {}): Answer {
  return {
    answer: "Kate is going to Breckenridge [1].",
    citations: [
      {
        n: 1,
        conversation_id: SKI_ID,
        conversation_external_id: "ski-trip-2024",
        title: "Planning the ski trip",
        message_ids: ["3"],
        quote: "Breckenridge. We leave on January 6th.",
        timestamp: "2023-12-29T22:47:30Z",
      },
    ],
    extractive: true,
    provider: "extractive",
    model: null,
    question: "Which resort?",
    sources: [skiHit],
    error: null,
    ...overrides,
  };
}

describe("Ask", () => {
  test("streams the answer as it is written, then links its citations and labels it extractive", async () => {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const server = fakeServer({
      "POST /v1/ask": () =>
        eventStream(
          [
            { event: "sources", data: { sources: [skiHit], question: "Which resort?" } },
            { event: "token", data: { text: "Kate is going " } },
            { event: "token", data: { text: "to Breckenridge [1]." } },
            { event: "done", data: answer() },
          ],
          gate,
        ),
    });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "Which resort?{Enter}");

    expect(await screen.findByText("You asked:", { exact: false })).toBeInTheDocument();
    expect(await screen.findByText("Reading 1 source…")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Stop" })).toBeInTheDocument();
    release();

    const cite = await screen.findByRole("link", { name: "Citation 1: Planning the ski trip" });
    expect(cite).toHaveAttribute("href", `/conversations/${SKI_ID}#m-3`);
    expect(screen.getByText("Extractive answer")).toBeInTheDocument();
    const citations = screen.getByRole("list", { name: "Citations" });
    expect(within(citations).getByText("Breckenridge. We leave on January 6th.")).toBeInTheDocument();
    expect(server.of("POST", "/v1/ask")[0]?.body).toEqual({ question: "Which resort?", history: [], stream: true });
  });

  test("a follow-up carries the chat so far, and the ask filters", async () => {
    const server = fakeServer({ "POST /v1/ask": () => eventStream([{ event: "done", data: answer() }]) });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "Which resort?{Enter}");
    await screen.findByText("Extractive answer");
    await user.click(screen.getByText(/^Limit to/));
    await user.type(screen.getByLabelText("Source"), "whatsapp");
    await user.type(screen.getByLabelText("Ask a follow-up question"), "And when do they leave?{Enter}");
    await screen.findAllByText("Extractive answer").then((labels) => expect(labels).toHaveLength(2));
    // The server rewrote the follow-up into a standalone question: say what was searched.
    expect(screen.getByText("Searched for: “Which resort?”")).toBeInTheDocument();
    expect(server.of("POST", "/v1/ask")[1]?.body).toEqual({
      question: "And when do they leave?",
      source: "whatsapp",
      stream: true,
      history: [
        { role: "user", content: "Which resort?" },
        { role: "assistant", content: "Kate is going to Breckenridge [1]." },
      ],
    });
  });

  test("an answer written by a model names it; an error event shows its detail", async () => {
    let n = 0;
    fakeServer({
      "POST /v1/ask": () =>
        ++n === 1
          ? eventStream([{ event: "done", data: answer({ extractive: false, provider: "openai", model: "gpt-4o-mini" }) }])
          : eventStream([{ event: "error", data: { status: 503, title: "Unavailable", detail: "database unreachable" } }]),
    });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "Which resort?{Enter}");
    expect(await screen.findByText(/Written by openai \/ gpt-4o-mini/)).toBeInTheDocument();
    expect(screen.queryByText("Extractive answer")).toBeNull();
    await user.type(screen.getByLabelText("Ask a follow-up question"), "Again?{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("database unreachable");
  });

  test("a refused request (before any stream) shows the problem detail", async () => {
    fakeServer({ "POST /v1/ask": () => problem(422, "question: question is empty", "Invalid input") });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "x{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("question: question is empty");
  });

  test("a server answering in one JSON piece still gives the answer", async () => {
    fakeServer({ "POST /v1/ask": () => json(answer()) });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "Which resort?{Enter}");
    expect(await screen.findByRole("link", { name: "Citation 1: Planning the ski trip" })).toBeInTheDocument();
  });

  test("the chat survives leaving the screen and coming back", async () => {
    fakeServer({ "POST /v1/ask": () => eventStream([{ event: "done", data: answer() }]) });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "Which resort?{Enter}");
    await screen.findByText("Extractive answer");
    await user.click(screen.getByRole("link", { name: "Settings" }));
    await user.click(screen.getByRole("link", { name: "Ask" }));
    expect(screen.getByText("Extractive answer")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "New chat" }));
    expect(screen.getByText("Ask a question about your conversations")).toBeInTheDocument();
  });

  test("a literal [1] inside a quoted message stays text; only the answer's own markers link", async () => {
    const quote = "see footnote [1] in the doc";
    const [cited] = answer().citations;
    if (!cited) throw new Error("the sample answer has a citation");
    fakeServer({
      "POST /v1/ask": () =>
        json(
          answer({
            answer: `Kate: “${quote}” [2]`,
            citations: [{ ...cited, n: 1 }, { ...cited, n: 2, quote }],
          }),
        ),
    });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "What did Kate say?{Enter}");
    const body = await screen.findByText((_, el) => el?.classList.contains("answer-body") ?? false);
    expect(body.textContent).toContain("footnote [1] in");
    const links = within(body).getAllByRole("link");
    expect(links.map((a) => a.textContent)).toEqual(["2"]);
  });

  test("a not-found answer says so and lists the nearest turns", async () => {
    fakeServer({
      "POST /v1/ask": () =>
        json(answer({ answer: "Not found in the conversations.", found: false, citations: [] })),
    });
    const { user } = openAt("/chat");
    await user.type(screen.getByLabelText("Ask a question"), "What is the wifi password?{Enter}");
    expect(await screen.findByText("Not found in the conversations.")).toBeInTheDocument();
    expect(screen.getByText(/Nothing close in the stored conversations; the nearest turns are/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Planning the ski trip" })).toBeInTheDocument();
  });
});
