"""The offline answerer picks the sentence that carries the answer, by question type,
not greetings or lines that only address someone by name; and it says when it finds nothing.

Every question runs through the real service (embedded PostgreSQL, ONNX embedder,
hybrid search) over one chat in which each fact competes with friendly noise that
repeats the question's words.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from builders import make_conversation

from mcp_rag import spans
from mcp_rag.models import AskRequest
from mcp_rag.prompt import NOT_FOUND


def _turns(lines: list[tuple[str, str, str]]) -> list[dict]:
    return [
        {"id": f"w{i}", "author": author, "content": content, "timestamp": f"{when}:00Z"}
        for i, (author, when, content) in enumerate(lines, start=1)
    ]


WEEKEND = _turns(
    [
        ("Elise", "2023-12-28T18:00", "Hi Kate! How are you doing?"),
        ("Kate", "2023-12-28T18:01", "I'm doing well Elise. Skiing all week, Elise!"),
        ("Elise", "2023-12-28T18:02", "Kate, you love skiing so much!"),
        ("Kate", "2023-12-28T18:03", "I have been skiing for about 10 years now, since school."),
        ("Elise", "2023-12-28T18:04", "That holiday in June sounds amazing Kate!"),
        ("Kate", "2023-12-28T18:05", "In June we flew to Lisbon with my sister and stayed by the river."),
        ("Elise", "2023-12-28T18:06", "How was the concert on Friday?"),
        ("Kate", "2023-12-28T18:07", "I went to the concert with my cousin Marco, the band was loud."),
        ("Kate", "2023-12-28T18:08", "How many cats do you have now Elise?"),
        ("Elise", "2023-12-28T18:09", "I have three cats and a very lazy dog."),
        ("Elise", "2023-12-28T18:10", "The flight to Tokyo last spring took 14 hours, never again."),
        ("Elise", "2023-12-28T18:11", "Do you want sushi when we meet, Kate?"),
        ("Kate", "2023-12-28T18:12", "I don't eat sushi, raw fish is not for me."),
        ("Kate", "2023-12-28T18:13", "Yesterday I finally fixed my old bike."),
        ("Elise", "2023-12-28T18:14", "What did you cook for dinner tonight?"),
        ("Kate", "2023-12-28T18:15", "Ham and pea pasta!"),
        ("Elise", "2023-12-28T18:16", "Haha cool Kate!"),
        ("Kate", "2023-12-28T18:17", "Bye Elise, talk soon!"),
    ]
)


@pytest.fixture
def chat(service):
    service.ingest(make_conversation(id="weekend", title="Kate & Elise", messages=WEEKEND))
    return service


def ask(service, question: str):
    return service.ask(AskRequest(question=question, conversation_id="weekend"))


def cited(answer) -> list[str]:
    return [m for c in answer.citations for m in c.message_ids]


@pytest.mark.parametrize(
    ("question", "span", "turn"),
    [
        ("When did Kate start skiing?", "2013", "w4"),  # "for about 10 years", said in 2023
        ("When did Kate fix her bike?", "27 December 2023", "w14"),  # "yesterday", said on 28 December
        ("Where did Kate fly to in June?", "Lisbon", "w6"),
        ("Who did Kate go to the concert with?", "Marco", "w8"),
        ("How many cats does Elise have?", "three cats", "w10"),
        ("How long was Elise's flight to Tokyo?", "14 hours", "w11"),
        ("Does Kate eat sushi?", "No", "w13"),
    ],
)
def test_each_question_type_leads_with_its_span_and_quotes_the_turn_that_holds_it(chat, question, span, turn):
    answer = ask(chat, question)
    assert answer.found, answer.answer
    assert answer.answer.startswith(f"{span}. "), answer.answer
    assert cited(answer)[0] == turn, answer.answer
    quote, n = answer.citations[0].quote, answer.citations[0].n
    assert quote in WEEKEND[int(turn[1:]) - 1]["content"]  # verbatim: an excerpt of the turn
    assert re.search(rf"“…?{re.escape(quote)}…?” \[{n}\]", answer.answer), answer.answer  # quoted, then cited


def test_greetings_and_lines_that_address_someone_by_name_are_never_the_answer(chat):
    for question in ("What does Kate think about skiing?", "When did Kate start skiing?", "What did Kate do in June?"):
        answer = ask(chat, question)
        assert cited(answer)[0] not in {"w1", "w2", "w3", "w5", "w17", "w18"}, (question, answer.answer)
        assert not set(cited(answer)) & {"w1", "w17", "w18"}, (question, answer.answer)  # never cited at all


def test_a_short_reply_is_read_with_the_question_before_it(chat):
    answer = ask(chat, "What did Kate cook for dinner?")
    assert "w16" in cited(answer) and "Ham and pea pasta" in answer.answer


@pytest.mark.parametrize(
    "question",
    ["What is the wifi password at the office?", "Who won the 2022 World Cup?", "What is Kevin's favorite language?"],
)
def test_questions_the_chat_cannot_answer_are_not_found(chat, question):
    answer = ask(chat, question)
    assert not answer.found and answer.answer == NOT_FOUND and answer.citations == []
    assert answer.sources  # the nearest turns still come back, for a reader to judge


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did she leave?", "when"),
        ("What year did they marry?", "when"),
        ("Where does Kate work?", "where"),
        ("Which city did they visit?", "where"),
        ("Who won?", "who"),
        ("How many times has Elise been to Turks and Caicos?", "count"),
        ("How long did the flu last?", "duration"),
        ("Did Elise spend the day alone?", "yesno"),
        ("What kind of pasta did Kate make?", "other"),
        ("And when is the release itself live?", "when"),
    ],
)
def test_question_type_comes_from_the_first_words(question, kind):
    assert spans.question_type(question) == kind


def test_relative_dates_are_resolved_against_the_turn_that_says_them():
    said = datetime(2024, 1, 7, 21, 30)
    assert spans.date_span("I saw it yesterday", said) == "6 January 2024"
    assert spans.date_span("We moved here two years ago", said) == "2022"
    assert spans.date_span("Back on 30 December, 2023 at Art Basel", said) == "30 December, 2023"
    assert spans.date_span("No date in here", said) is None
    assert spans.date_span("The embargo lifts on Thursday", said) == "Thursday (said on 7 January 2024)"


WORK = _turns(
    [
        ("Elise", "2024-01-08T09:00", "How is the new job going Kate?"),
        ("Kate", "2024-01-08T09:01", "I work part-time at the bakery now, mornings only."),
        ("Elise", "2024-01-08T09:02", "Do you still play tennis?"),
        ("Kate", "2024-01-08T09:03", "I play tennis with my brother every week, nothing beats it."),
        ("Kate", "2024-01-08T09:04", "I take the bus to the bakery most days, sometimes I cycle."),
        ("Kate", "2024-01-08T09:05", "I studied chemistry and physics at university."),
    ]
)


@pytest.fixture
def work(service):
    service.ingest(make_conversation(id="work", title="Kate's work", messages=WORK))
    return service


def ask_work(service, question: str):
    return service.ask(AskRequest(question=question, conversation_id="work"))


def test_a_yes_no_question_offering_alternatives_is_answered_with_the_one_the_chat_holds(work):
    answer = ask_work(work, "Does Kate work full-time or part-time at the bakery?")
    assert answer.answer.startswith("part-time. "), answer.answer
    assert "w2" in cited(answer)


def test_alternatives_with_neither_in_the_chat_are_chosen_by_meaning(work):
    answer = ask_work(work, "Does Kate have a humanities or science background?")
    assert answer.answer.startswith("science. "), answer.answer


def test_a_negation_in_a_clause_about_something_else_does_not_make_the_answer_no(work):
    answer = ask_work(work, "Does Kate play tennis?")  # "..., nothing beats it": the negation is not about tennis
    assert answer.answer.startswith("Yes. "), answer.answer
    assert "w4" in cited(answer)


def test_a_claim_without_exceptions_the_chat_does_not_repeat_is_answered_no(work):
    answer = ask_work(work, "Does Kate always take the bus to the bakery?")
    assert answer.answer.startswith("No. "), answer.answer
    assert "w5" in cited(answer)


def test_a_negated_question_turns_the_answer_round(chat):
    answer = ask(chat, "Is Kate not eating sushi?")
    assert answer.answer.startswith("Yes. "), answer.answer
    assert "w13" in cited(answer)


@pytest.mark.parametrize(
    ("question", "choices"),
    [
        ("Does Nebraas work full-time or part-time?", ["full-time", "part-time"]),
        ("Does he have a humanities or technical background?", ["humanities", "technical"]),
        ("Does Kate eat sushi?", []),
        ("What is Kate's job or hobby?", []),  # not a yes/no question
    ],
)
def test_alternatives_are_the_words_either_side_of_or_in_a_yes_no_question(question, choices):
    assert spans.alternatives(question) == choices
