"""The fixed names a task file chooses from, known below the data layer: tagging schemes and word tokenizers.

:mod:`bench.spec` checks a task's ``scheme`` and ``word_tokenizer`` against these names without importing
the data layer that implements them (:mod:`bench.data.schemes`, which takes its scheme names from here,
and :mod:`bench.data.wordtok`, whose registry holds exactly :data:`WORD_TOKENIZER_NAMES`: tested).
"""

from __future__ import annotations

TAG_SCHEME_NAMES = ("IOB1", "IOB2", "BIOES", "BILOU")
"""Tag schemes a task may declare (their prefixes: :data:`bench.data.schemes.TAG_SCHEMES`)."""

SPANS = "spans"
"""The scheme of span-annotated sources (BRAT, ADE): there are no source tags to validate."""

ALL_SCHEMES = (*TAG_SCHEME_NAMES, SPANS)

WORD_TOKENIZER_NAMES = ("conll", "simple")
"""The word tokenizers a task may name (``word_tokenizer``), sorted: :data:`bench.data.wordtok.WORD_TOKENIZERS`."""
