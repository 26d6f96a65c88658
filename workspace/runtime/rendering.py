"""The one place where messages become the text a model reads, and where a model's leading
copy of that text is taken off its answer.

Two renders:

- `render_gemma_prompt`: Gemma's chat format, for instruction-tuned models (they were
  trained on it: a system message folded into the first user turn, then turns).
- `render_continuation_prompt`: for a *base* (pretrained) model, which has no chat template
  and was never taught turns: shown a chat prompt, it continues the document it sees, by
  copying the user turn (issue 17). It gets a document it can complete instead: the
  material first, then the instructions under a `# Task` heading, then the request, then a
  short cue (`Answer:`, `Summary:`) that the answer naturally follows. A structured call
  keeps the chat format on any model: its grammar makes the answer JSON from the start.

`render_prompt` picks one from `instruction_tuned`, with the stop strings that go with it.

`EchoGuard` / `strip_echo` remove, from the start of an answer, whole lines or sentences
copied from the prompt (its instructions or its material), so no caller ever shows an
echo; a stream is held back only while what it has written so far could still be one.
Comparison is word by word (`str.split` tokens), anchored at the prompt's line starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workspace.runtime.types import Message

END_OF_TURN = "<end_of_turn>"
# A user message's request: the section under one of these headings, when it ends the
# message (packing puts "# Question" there; summaries put "# Task").
REQUEST_HEADINGS = ("# Question\n", "# Task\n")
TASK_HEADING = "# Task\n"
QUESTION_LABEL = "Question:"
ANSWER_CUE = "Answer:"
SUMMARY_CUE = "Summary:"


def render_gemma_prompt(messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    """Gemma's chat format. A system message is folded into the first user turn, as Gemma does."""
    parts: list[str] = []
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    pending_system = system
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        content = message.content
        if role == "user" and pending_system:
            content = f"{pending_system}\n\n{content}"
            pending_system = ""
        parts.append(f"<start_of_turn>{role}\n{content}{END_OF_TURN}\n")
    if pending_system:  # system prompt with no user turn
        parts.append(f"<start_of_turn>user\n{pending_system}{END_OF_TURN}\n")
    if add_generation_prompt:
        parts.append("<start_of_turn>model\n")
    return "".join(parts)


def split_request(content: str) -> tuple[str, str]:
    """(material, request): the request is the last section under a REQUEST_HEADINGS
    heading (at the start of the message or of a line); "" when there is none."""
    best = -1
    heading_length = 0
    for heading in REQUEST_HEADINGS:
        found = content.rfind(heading)
        while found > 0 and content[found - 1] != "\n":
            found = content.rfind(heading, 0, found)
        if found > best:
            best, heading_length = found, len(heading)
    if best < 0:
        return content, ""
    return content[:best], content[best + heading_length :]


# A lone user message this short, of one paragraph, with no request heading, is itself
# the request ("Name three planets."), not material for one.
SHORT_REQUEST_CHARS = 500


def is_short_request(content: str) -> bool:
    content = content.strip()
    return len(content) <= SHORT_REQUEST_CHARS and "\n\n" not in content


def continuation_cue(instructions: str) -> str:
    """The words that end a base model's prompt, which its answer follows."""
    return SUMMARY_CUE if "summar" in instructions.lower() else ANSWER_CUE


def render_continuation_prompt(messages: Sequence[Message]) -> str:
    """A document for a base model to complete:

    <the first user message's material>

    # Task
    <the system text>

    Question: <the first request, if any>
    Answer: <an earlier answer>      (a conversation continues as questions and answers)
    Question: <a later user message>
    Answer:                          (or Summary:)
    """
    system = "\n\n".join(m.content.strip() for m in messages if m.role == "system")
    turns = [m for m in messages if m.role != "system"]
    material, first_request = "", ""
    if turns and turns[0].role == "user":
        material, first_request = split_request(turns[0].content)
        if not first_request and len(turns) == 1 and is_short_request(material):
            material, first_request = "", material  # a bare request, with no material
        turns = turns[1:]
    lines: list[str] = []
    if material.strip():
        lines.append(material.strip() + "\n\n")
    if system:
        lines.append(f"{TASK_HEADING}{system}\n\n")
    exchange: list[str] = []
    if first_request.strip():
        exchange.append(f"{QUESTION_LABEL} {first_request.strip()}\n")
    requests = [first_request] + [m.content for m in turns if m.role == "user"]
    # what is asked: the last request, or the system text when there is none (its task)
    asked = requests[-1] if requests[-1].strip() else system
    cue = continuation_cue(asked)
    for message in turns:
        label = QUESTION_LABEL if message.role == "user" else ANSWER_CUE
        exchange.append(f"{label} {message.content.strip()}\n")
    if exchange and cue != ANSWER_CUE and exchange[-1].startswith(QUESTION_LABEL):
        # the last request was a summary: say it as the task, then cue it
        exchange[-1] = exchange[-1].removeprefix(QUESTION_LABEL).lstrip()
    lines.extend(exchange)
    lines.append(cue)
    return "".join(lines)


# Where a base model's answer ends: where it would start the next question, answer or task.
CONTINUATION_STOPS = (
    END_OF_TURN,
    f"\n{QUESTION_LABEL}",
    f"\n{ANSWER_CUE}",
    f"\n{SUMMARY_CUE}",
    *(f"\n{heading.strip()}" for heading in REQUEST_HEADINGS),
)


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    stop: tuple[str, ...]


def render_prompt(
    messages: Sequence[Message], *, instruction_tuned: bool, structured: bool = False
) -> RenderedPrompt:
    """What the model reads, and where its answer stops: the chat format for an
    instruction-tuned model, a continuation for a base model, whose answer also stops
    where it would start the next question or a new top-level section."""
    if instruction_tuned or structured:
        # A grammar makes a structured answer JSON from its first token, so a base model
        # cannot echo there; and in the chat format its JSON stays short (as a continuation
        # ending "JSON:" it ran on to the output limit).
        return RenderedPrompt(render_gemma_prompt(messages), (END_OF_TURN,))
    return RenderedPrompt(render_continuation_prompt(messages), CONTINUATION_STOPS)


# --- the echo guard ---------------------------------------------------------------------------

# A leading copy shorter than this is left alone: an answer may open with a short phrase
# that happens to start a line of its sources ("Yes.", "Bamboo.").
MIN_ECHO_CHARS = 20
_SENTENCE_ENDS = (".", "!", "?", ":", ";", "]", ")", "”", '"')


@dataclass(frozen=True)
class _Word:
    text: str
    line_start: bool  # begins a line of the prompt
    ends_unit: bool  # ends a sentence or a line of the prompt
    chars: int  # characters of the prompt's words up to and including this one (joined by " ")


def _prompt_words(prompt: str) -> tuple[list[_Word], dict[str, list[int]]]:
    words: list[_Word] = []
    starts: dict[str, list[int]] = {}
    chars = 0
    for line in prompt.splitlines():
        pieces = line.split()
        for index, piece in enumerate(pieces):
            chars += len(piece) + (1 if words else 0)
            last = index == len(pieces) - 1
            words.append(_Word(piece, index == 0, last or piece.endswith(_SENTENCE_ENDS), chars))
            if index == 0:
                starts.setdefault(piece, []).append(len(words) - 1)
    return words, starts


def _output_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) of each whitespace-separated word of text, in one pass."""
    found: list[tuple[str, int, int]] = []
    start = -1
    for index, char in enumerate(text):
        if char.isspace():
            if start >= 0:
                found.append((text[start:index], start, index))
                start = -1
        elif start < 0:
            start = index
    if start >= 0:
        found.append((text[start:], start, len(text)))
    return found


class EchoGuard:
    """Takes a leading copy of the prompt's own text off an answer, whole or streamed.

    An echo is a run of the answer's words equal to the prompt's words from the start of
    one of its lines. What is removed ends where a sentence or line of the prompt ends
    inside that run (or where the answer itself ends), is at least MIN_ECHO_CHARS long,
    and is removed again for the copy that may follow it; leading whitespace goes too.
    """

    def __init__(self, prompt: str) -> None:
        self._words, self._starts = _prompt_words(prompt)
        self._buffer = ""
        self._passing = False

    def _echo_length(self, text: str, *, complete: bool) -> int | None:
        """Characters of one leading echo in text (0: none); None while undecided (an
        incomplete text whose copy may still go on)."""
        words = _output_words(text)
        if not words:
            return None if not complete else 0
        if not complete and words[0][2] == len(text):
            return None  # the first word is still being written: nothing to look up yet
        best_cut = 0
        undecided = False
        for start in self._starts.get(words[0][0], ()):
            cut, matched = 0, 0
            base = self._words[start].chars - len(self._words[start].text)
            while matched < len(words) and start + matched < len(self._words):
                word, _begin, end = words[matched]
                prompt_word = self._words[start + matched]
                at_end = matched == len(words) - 1 and end == len(text)
                if word != prompt_word.text:
                    if at_end and not complete and prompt_word.text.startswith(word):
                        undecided = True  # the answer's last word may still grow into it
                    elif at_end and complete and prompt_word.text.startswith(word):
                        cut = end  # the answer ends inside a copied word: all of it goes
                    break
                if prompt_word.ends_unit and prompt_word.chars - base >= MIN_ECHO_CHARS:
                    cut = end
                matched += 1
            else:
                if matched == len(words):
                    if not complete:
                        undecided = True
                    elif self._words[start + matched - 1].chars - base >= MIN_ECHO_CHARS:
                        cut = len(text)  # the whole answer is a copy
            best_cut = max(best_cut, cut)
        if undecided:
            return None
        return best_cut

    def _strip(self, text: str, *, complete: bool) -> tuple[int, bool]:
        """(characters to drop from the start, decided)."""
        position = 0
        while True:
            rest = text[position:]
            leading = len(rest) - len(rest.lstrip())
            if leading == len(rest) and not complete:
                return position, False
            cut = self._echo_length(rest[leading:], complete=complete)
            if cut is None:
                return position, False
            position += leading
            if cut == 0:
                return position, True
            position += cut

    def strip(self, text: str) -> str:
        """The whole answer without its leading echo."""
        drop, _ = self._strip(text, complete=True)
        return text[drop:]

    def feed(self, piece: str) -> str:
        """What of the stream so far can be shown: nothing while it may still be an echo."""
        if self._passing:
            return piece
        self._buffer += piece
        drop, decided = self._strip(self._buffer, complete=False)
        if not decided:
            return ""
        self._passing = True
        shown, self._buffer = self._buffer[drop:], ""
        return shown

    def finish(self) -> str:
        """What was held back, once the stream has ended."""
        if self._passing:
            return ""
        self._passing = True
        shown, self._buffer = self.strip(self._buffer), ""
        return shown


def echo_guard(
    messages: Sequence[Message], *, instruction_tuned: bool = True, structured: bool = False
) -> EchoGuard:
    """A guard against copies of the prompt's instructions and material (system and user
    messages, and the render's own headings and labels), not of earlier answers: a model
    may rightly say again what it said before."""
    own = [m if m.role != "assistant" else Message("assistant", "") for m in messages]
    rendered = render_prompt(own, instruction_tuned=instruction_tuned, structured=structured)
    return EchoGuard(rendered.text)


def strip_echo(text: str, *, prompt: str) -> str:
    """text without a leading copy of the prompt's own lines or sentences (EchoGuard)."""
    return EchoGuard(prompt).strip(text)
