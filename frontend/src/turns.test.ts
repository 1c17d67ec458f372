import { describe, expect, test } from "vitest";
import { skiHit } from "./test/data";
import { messageLink, parseLabelTime, splitHit } from "./turns";

describe("splitting a hit into its turns", () => {
  test("each labelled line is a turn of its message, with speaker and UTC time", () => {
    const turns = splitHit(skiHit);
    expect(turns.map((t) => [t.messageId, t.speaker, t.time])).toEqual([
      ["1", "Kate", "2023-12-29T22:45:00Z"],
      ["2", "Elise", "2023-12-29T22:46:00Z"],
      ["3", "Kate", "2023-12-29T22:47:00Z"],
    ]);
    expect(turns[1]?.text).toBe("No way! Which resort are you going to?");
  });

  test("labels with written-out times, authors with parentheses, roles and unknown time formats", () => {
    const turns = splitHit({
      ...skiHit,
      message_ids: ["1", "2", "3", "4"],
      authors: ["Sam (customer)", "Lena"],
      text: [
        "Sam (customer) (Monday 20 May 2024, 14:02): I'm locked out.",
        "Lena: Unlocked it.",
        "assistant: Anything else?",
        "Sam (customer) (yesterday): No, thanks",
      ].join("\n"),
    });
    expect(turns).toEqual([
      { messageId: "1", speaker: "Sam (customer)", time: "2024-05-20T14:02:00Z", text: "I'm locked out." },
      { messageId: "2", speaker: "Lena", time: null, text: "Unlocked it." },
      { messageId: "3", speaker: "assistant", time: null, text: "Anything else?" },
      { messageId: "4", speaker: "Sam (customer)", time: null, timeText: "yesterday", text: "No, thanks" },
    ]);
  });

  test("label times in both of the server's formats read as UTC", () => {
    expect(parseLabelTime("2023-12-29 22:45")).toBe("2023-12-29T22:45:00Z");
    expect(parseLabelTime("Friday 29 December 2023, 22:45")).toBe("2023-12-29T22:45:00Z");
    expect(parseLabelTime("3 March 2024, 9:05")).toBe("2024-03-03T09:05:00Z");
    expect(parseLabelTime("Frimaire 3, an II")).toBeNull();
  });

  test("a message with line breaks stays one turn, even when a line looks like 'Word: ...'", () => {
    const turns = splitHit({
      ...skiHit,
      message_ids: ["a", "b"],
      authors: ["Kate", "Sam"],
      text: "Kate: The plan:\nNote: bring skis\nSam: ok",
    });
    expect(turns.map((t) => [t.messageId, t.speaker, t.text])).toEqual([
      ["a", "Kate", "The plan:\nNote: bring skis"],
      ["b", "Sam", "ok"],
    ]);
  });

  test("a part of one long message links to that message", () => {
    const turns = splitHit({ ...skiHit, message_ids: ["9"], authors: ["Kate"], text: "Kate (2024-01-01 10:00): part two" });
    expect(turns).toEqual([{ messageId: "9", speaker: "Kate", time: "2024-01-01T10:00:00Z", text: "part two" }]);
  });

  test("when the turns cannot be matched to message ids, none is guessed", () => {
    const turns = splitHit({ ...skiHit, message_ids: ["1", "2", "3", "4"] });
    expect(turns.every((t) => t.messageId === null)).toBe(true);
  });
});

test("a message link names the conversation, the related messages and the message anchor", () => {
  expect(messageLink("c1", "m 7", ["m 7", "m8"])).toBe("/conversations/c1?highlight=m%207%2Cm8#m-m%207");
  expect(messageLink("c1", "3")).toBe("/conversations/c1#m-3");
  expect(messageLink("c1", null)).toBe("/conversations/c1");
});
