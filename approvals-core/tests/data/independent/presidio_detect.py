"""Runs Microsoft Presidio's analyzer over the independent corpus and writes
its detections in the form `mask_eval_independent --detections` scores.

Presidio finds personal names with a spaCy model; none can be installed
without access to spaCy's model downloads, so this runs Presidio's
pattern and checksum recognizers (email, phone via libphonenumber, card,
IBAN, IP, SSN, …) on a blank English pipeline: its figures for names and
addresses are not Presidio's best, its figures for the other kinds are.

    venv/bin/pip install presidio-analyzer==2.2.366
    venv/bin/python presidio_detect.py corpus.jsonl presidio.jsonl
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")

import spacy  # noqa: E402
import tldextract  # noqa: E402
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry  # noqa: E402
from presidio_analyzer.nlp_engine import SpacyNlpEngine  # noqa: E402

KINDS = {
    "PERSON": "name",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "US_SSN": "us_ssn",
    "LOCATION": "address",
}


class BlankEnglish(SpacyNlpEngine):
    """spaCy's tokenizer without a trained model: no named entities."""

    def __init__(self):
        super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])

    def load(self):
        self.nlp = {"en": spacy.blank("en")}


def main(corpus, out):
    # Presidio's email recognizer checks domains with tldextract, which
    # fetches the public suffix list unless told to use its own copy.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    nlp = BlankEnglish()
    nlp.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp)
    analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
    with open(corpus, encoding="utf-8") as lines, open(out, "w", encoding="utf-8") as found:
        for line in lines:
            text = json.loads(line)["text"]
            spans = []
            for result in analyzer.analyze(text=text, language="en"):
                kind = KINDS.get(result.entity_type, result.entity_type.lower())
                start = len(text[: result.start].encode("utf-8"))
                end = len(text[: result.end].encode("utf-8"))
                spans.append({"kind": kind, "start": start, "end": end})
            found.write(json.dumps({"spans": spans}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
