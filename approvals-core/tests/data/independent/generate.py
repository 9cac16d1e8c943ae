"""Generates the independent masking corpus with Presidio's data generator.

The sentences, their templates and the fake values come from
presidio-evaluator (MIT licence, Microsoft) and Faker (MIT licence), not
from this project: the corpus tests the masking engine on data it was not
tuned to. Run from this directory:

    python3 -m venv venv && venv/bin/pip install presidio-evaluator==0.3.2
    PYTHONHASHSEED=0 venv/bin/python generate.py corpus.jsonl

The same seed gives the same corpus, except the DATE_TIME values the
generator draws relative to the current time (not scored).

Each line: {"locale", "text", "spans": [{"type", "start", "end"}]} with
byte offsets into the UTF-8 text, and Presidio's entity types.
"""

import contextlib
import json
import random
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy  # noqa: E402
from faker import Faker  # noqa: E402
from presidio_evaluator.data_generator import PresidioSentenceFaker  # noqa: E402

SEED = 20261206
PER_LOCALE = 1000
LOCALES = ["en_US", "en_GB", "en_AU", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL"]


def byte_offset(text, index):
    return len(text[:index].encode("utf-8"))


def main(path):
    with open(path, "w", encoding="utf-8") as out, contextlib.redirect_stdout(sys.stderr):
        write(out)


def write(out):
    for number, locale in enumerate(LOCALES):
        # The generator draws from `random` and numpy as well as from Faker.
        random.seed(SEED + number)
        numpy.random.seed(SEED + number)
        Faker.seed(SEED + number)
        faker = PresidioSentenceFaker(
            locale=locale, lower_case_ratio=0.0, random_seed=SEED + number
        )
        for sentence in faker.generate_new_fake_sentences(num_samples=PER_LOCALE):
            text = sentence.full_text
            spans = sorted(
                (
                    {
                        "type": span.entity_type,
                        "start": byte_offset(text, span.start_position),
                        "end": byte_offset(text, span.end_position),
                    }
                    for span in sentence.spans
                ),
                key=lambda span: span["start"],
            )
            line = {"locale": locale, "text": text, "spans": spans}
            out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
