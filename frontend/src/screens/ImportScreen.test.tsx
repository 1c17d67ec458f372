import { fireEvent, screen, within } from "@testing-library/react";
import { describe, expect, test } from "vitest";
import type { FileImport } from "../api/types";
import { type Call, fakeServer, json, problem } from "../test/fakeServer";
import { openAt } from "../test/render";

/** The server's answer for one uploaded file. */
function imported(report: Partial<FileImport> & { name: string }) {
  const file: FileImport = { format: "json", conversations: 0, messages_added: 0, skipped: 0, errors: [], ...report };
  return json({ files: [file], conversations: file.conversations, messages_added: file.messages_added, errors: file.errors.length });
}

const uploadedName = (call: Call) => ((call.body as FormData).get("files") as File).name;

const UNRECOGNISED =
  "no conversations found in a format we read (slack, chatgpt, claude, whatsapp, markdown, transcript, json, openai)";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

describe("Import", () => {
  test("each chosen file is uploaded on its own and shows the server's result: format, counts and errors", async () => {
    const server = fakeServer({
      "POST /v1/import": (call) =>
        uploadedName(call) === "slack-export.zip"
          ? imported({ name: "slack-export.zip", format: "slack", conversations: 4, messages_added: 7 })
          : imported({
              name: "team-chats.jsonl",
              conversations: 2,
              messages_added: 27,
              skipped: 1,
              errors: [{ location: "team-chats.jsonl:3", message: "messages.0.content: Value error, content is empty" }],
            }),
    });
    const { user } = openAt("/import");
    const picker = screen.getByLabelText("Choose files…");
    // Any file type: the server decides what it can read.
    expect(picker).not.toHaveAttribute("accept");
    const zip = new File(["PK\u0003\u0004"], "slack-export.zip", { type: "application/zip" });
    const jsonl = new File(['{"id": "a"}\n'], "team-chats.jsonl");
    await user.upload(picker, [zip, jsonl]);

    const zipRow = await screen.findByRole("listitem", { name: "slack-export.zip" });
    const jsonlRow = screen.getByRole("listitem", { name: "team-chats.jsonl" });
    expect(await within(zipRow).findByText("Done")).toBeInTheDocument();
    expect(await within(jsonlRow).findByText("Done")).toBeInTheDocument();
    expect(server.of("POST", "/v1/import").map(uploadedName)).toEqual(["slack-export.zip", "team-chats.jsonl"]);

    const facts = (row: HTMLElement) =>
      Object.fromEntries(
        within(row)
          .getAllByRole("term")
          .map((term) => [term.textContent, term.nextElementSibling?.textContent]),
      );
    expect(facts(zipRow)).toEqual({
      Format: "Slack export",
      Conversations: "4",
      "Messages added": "7",
      "Skipped (already stored)": "0",
      Errors: "0",
    });
    expect(facts(jsonlRow)).toMatchObject({ Format: "mcp-rag JSON", Conversations: "2", "Skipped (already stored)": "1", Errors: "1" });
    const errors = within(jsonlRow).getByRole("list", { name: "Errors in team-chats.jsonl" });
    expect(errors).toHaveTextContent("team-chats.jsonl:3: messages.0.content: Value error, content is empty");
    expect(screen.getByRole("link", { name: "See the conversations" })).toHaveAttribute("href", "/conversations");
  });

  test("shows the bytes uploaded, then that the server is importing, then the result", async () => {
    const upload = deferred();
    const answer = deferred();
    fakeServer(
      {
        "POST /v1/import": async () => {
          await answer.promise;
          return imported({ name: "conversations.json", format: "chatgpt", conversations: 2, messages_added: 5 });
        },
      },
      { uploadGate: upload.promise },
    );
    const { user } = openAt("/import");
    await user.upload(screen.getByLabelText("Choose files…"), new File(["x".repeat(4096)], "conversations.json"));
    const row = await screen.findByRole("listitem", { name: "conversations.json" });

    expect(await within(row).findByText("Uploading 2.0 KB of 4.0 KB")).toBeInTheDocument();
    expect(within(row).getByRole("progressbar", { name: "Uploading conversations.json" })).toHaveAttribute("value");
    expect(within(row).getByText("Uploading", { selector: ".badge" })).toBeInTheDocument();

    upload.resolve();
    expect(await within(row).findByText("Uploaded; the server is importing it…")).toBeInTheDocument();
    expect(within(row).getByRole("progressbar", { name: "Importing conversations.json" })).not.toHaveAttribute("value");

    answer.resolve();
    expect(await within(row).findByText("Done")).toBeInTheDocument();
    expect(within(row).getByText("ChatGPT export")).toBeInTheDocument();
    expect(within(row).queryByRole("progressbar")).not.toBeInTheDocument();
  });

  test("a dropped file the server cannot read is marked failed with the server's reason", async () => {
    fakeServer({
      "POST /v1/import": () =>
        imported({ name: "holiday.png", format: "unknown", errors: [{ location: "holiday.png", message: UNRECOGNISED }] }),
    });
    openAt("/import");
    const zone = screen.getByTestId("dropzone");
    const file = new File(["\u0089PNG"], "holiday.png", { type: "image/png" });
    fireEvent.dragOver(zone, { dataTransfer: { files: [file] } });
    expect(zone).toHaveClass("dragging");
    fireEvent.drop(zone, { dataTransfer: { files: [file] } });
    expect(zone).not.toHaveClass("dragging");

    const row = await screen.findByRole("listitem", { name: "holiday.png" });
    expect(await within(row).findByText("Failed")).toBeInTheDocument();
    expect(within(row).getByText("Not recognised")).toBeInTheDocument();
    expect(within(row).getByRole("list", { name: "Errors in holiday.png" })).toHaveTextContent(`holiday.png: ${UNRECOGNISED}`);
    expect(screen.queryByRole("link", { name: "See the conversations" })).not.toBeInTheDocument();
  });

  test("a refused upload fails only its own file; an auth failure points to Settings", async () => {
    fakeServer({
      "POST /v1/import": (call) => {
        const name = uploadedName(call);
        if (name === "huge.zip") return problem(413, "the upload is larger than MCP_RAG_MAX_UPLOAD_BYTES", "Payload too large");
        if (name === "locked.json") return problem(401, "an API token is required", "Unauthorized");
        return imported({ name, conversations: 1, messages_added: 3 });
      },
    });
    const { user } = openAt("/import");
    await user.upload(screen.getByLabelText("Choose files…"), [
      new File(["x"], "huge.zip"),
      new File(["x"], "locked.json"),
      new File(["x"], "fine.json"),
    ]);

    const huge = await screen.findByRole("listitem", { name: "huge.zip" });
    expect(await within(huge).findByRole("alert")).toHaveTextContent(
      "Payload too large: the upload is larger than MCP_RAG_MAX_UPLOAD_BYTES",
    );
    expect(within(huge).getByText("Failed")).toBeInTheDocument();
    const locked = screen.getByRole("listitem", { name: "locked.json" });
    expect(await within(locked).findByRole("alert")).toHaveTextContent("an API token is required");
    expect(within(locked).getByRole("link", { name: "Set an API token in Settings" })).toBeInTheDocument();
    const fine = screen.getByRole("listitem", { name: "fine.json" });
    expect(await within(fine).findByText("Done")).toBeInTheDocument();
  });

  test("a file with many refused records lists the first ten and the rest on request", async () => {
    const errors = Array.from({ length: 25 }, (_, i) => ({ location: `big.json[${i + 1}]`, message: "expected an object" }));
    fakeServer({ "POST /v1/import": () => imported({ name: "big.json", conversations: 3, messages_added: 9, errors }) });
    const { user } = openAt("/import");
    await user.upload(screen.getByLabelText("Choose files…"), new File(["[]"], "big.json"));
    const row = await screen.findByRole("listitem", { name: "big.json" });
    expect(await within(row).findByText("Done")).toBeInTheDocument();
    const list = within(row).getByRole("list", { name: "Errors in big.json" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(10);

    await user.click(within(row).getByRole("button", { name: "Show all 25 errors" }));
    expect(within(list).getAllByRole("listitem")).toHaveLength(25);
    expect(within(list).getAllByRole("listitem").at(-1)).toHaveTextContent("big.json[25]: expected an object");
  });
});
