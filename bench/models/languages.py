"""Which languages a model was pretrained on, and whether that fits a task's ``language``.

Named offline models declare theirs in the catalogue (``languages`` of :data:`bench.models.MODELS`); the hub
models the shipped suites name are listed in :data:`HUB_LANGUAGES`. A local folder or another hub id
declares nothing and is not checked. ``"*"`` is a multilingual model, which fits every task.
"""

from __future__ import annotations

from bench.models.catalogue import MODELS

MULTILINGUAL = "*"

HUB_LANGUAGES: dict[str, tuple[str, ...]] = {
    "bert-base-cased": ("en",),
    "google-bert/bert-base-cased": ("en",),
    "bert-base-uncased": ("en",),
    "google-bert/bert-base-uncased": ("en",),
    "michiyasunaga/BioLinkBERT-base": ("en",),
    "dmis-lab/biobert-base-cased-v1.2": ("en",),
    "PlanTL-GOB-ES/bsc-bio-ehr-es": ("es",),
    "PlanTL-GOB-ES/roberta-base-biomedical-clinical-es": ("es",),
    "bert-base-multilingual-cased": (MULTILINGUAL,),
    "google-bert/bert-base-multilingual-cased": (MULTILINGUAL,),
    "xlm-roberta-base": (MULTILINGUAL,),
    "FacebookAI/xlm-roberta-base": (MULTILINGUAL,),
    "xlm-roberta-large": (MULTILINGUAL,),
    "FacebookAI/xlm-roberta-large": (MULTILINGUAL,),
    "microsoft/mdeberta-v3-base": (MULTILINGUAL,),
}
"""Hub models of the shipped suites (and a few common ones) with the languages they were pretrained on."""


def model_languages(model: str | None) -> tuple[str, ...]:
    """The languages ``model`` (a named offline model or a hub id, ``@revision`` allowed) was pretrained on;
    ``()`` when it declares none.

    >>> model_languages("minilm-l6"), model_languages("PlanTL-GOB-ES/bsc-bio-ehr-es@main"), model_languages("/x/y")
    (('en',), ('es',), ())
    """
    if not model:
        return ()
    name = model.strip()
    if name in MODELS:
        return tuple(MODELS.get(name).languages)
    return HUB_LANGUAGES.get(name.partition("@")[0], ())


def language_mismatch(model: str | None, task_language: str) -> str | None:
    """What to say when ``model`` was pretrained on other languages than the task's, else ``None`` (the
    languages fit, the model is multilingual, or it declares none). ``es-ES`` counts as ``es``.

    >>> language_mismatch("minilm-l6", "es")
    'language mismatch: model minilm-l6 was pretrained on en text, the task is es'
    >>> language_mismatch("minilm-l6", "en") is None, language_mismatch("xlm-roberta-base", "es") is None
    (True, True)
    """
    languages = model_languages(model)
    base = task_language.strip().split("-")[0].lower()
    if not languages or MULTILINGUAL in languages or base in {x.split("-")[0].lower() for x in languages}:
        return None
    return f"language mismatch: model {model} was pretrained on {'/'.join(languages)} text, the task is {task_language}"
