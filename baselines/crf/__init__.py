"""The CRF baseline every transformer is compared against: in-corpus features + sklearn-crfsuite.

Three layers, each usable alone:

* **Features** — pure, module-level functions in the shape of sklearn-crfsuite's CoNLL2002 tutorial
  (:func:`word2features`, :func:`sent2features`), organised in named *groups* that can each be
  switched off, and bundled into a versioned :class:`FeatureSet` (``"rich-v1"``) whose id goes into
  every result. Everything is computed from the sentence itself plus :class:`FeatureResources` built
  from the **training text only** (a case lexicon and a jackknifed gazetteer), so the baseline uses no
  external data and no dev/test text.
* **Training** — :func:`train_crf` (L-BFGS through sklearn-crfsuite) returns a :class:`CrfModel`
  with :class:`TrainStats` (seconds, peak RSS, feature count, iterations); :func:`search_crf` picks
  hyper-parameters on **dev only**.
* **Persistence** — :meth:`CrfModel.save` writes a directory with the crfsuite model file and a
  ``nerbench_model.json`` saying ``"kind": "crf"``, so ``nerbench predict --model DIR`` can tell what
  it holds; :meth:`CrfModel.load` reads it back.

Training drives python-crfsuite's ``Trainer`` with exactly the parameters ``sklearn_crfsuite.CRF.fit``
passes it (the model file is byte-identical, tested), so a CRF cell does not import scikit-learn
(about 1.5 s per cell process). :func:`make_crf` still builds the scikit-learn estimator for users
who want ``GridSearchCV``: sklearn-crfsuite's ``'CRF' object has no attribute 'keep_tempfiles'``
(upstream issue 60) is fixed there — 0.5.0 stores the attribute, older releases do not. Model files are written into a private temporary
directory that is always removed; the trained model lives in memory (``Tagger.open_inmemory``), so
no ``model*.crfsuite`` file is ever left in the system temp folder.

Modules, each a layer of the above: :mod:`~baselines.crf.features` (groups, feature sets, token
features), :mod:`~baselines.crf.resources` (case lexicon, gazetteer, jackknife),
:mod:`~baselines.crf.config` (:class:`CrfConfig`, :class:`CrfError`, the stats records),
:mod:`~baselines.crf.train` (:func:`train_crf`, :func:`search_crf`, :func:`make_crf`) and
:mod:`~baselines.crf.model` (:class:`CrfModel`, its directory format). Import from
``baselines.crf``: every public name is here.
"""

from baselines.crf.config import (
    CrfConfig,
    CrfError,
    PredictStats,
    TrainStats,
    config_from_params,
    config_of,
    peak_rss_bytes,
)
from baselines.crf.features import (
    FEATURE_GROUPS,
    FEATURE_SETS,
    RESOURCE_GROUPS,
    Features,
    FeatureSet,
    check_groups,
    get_feature_set,
    is_all_caps_sentence,
    sent2features,
    short_shape,
    word2features,
    word_shape,
)
from baselines.crf.model import MODEL_FILE, MODEL_FORMAT_VERSION, MODEL_JSON, RESOURCES_FILE, CrfModel
from baselines.crf.resources import (
    FeatureResources,
    Gazetteer,
    build_resources,
    case_lexicon,
    jackknife_resources,
)
from baselines.crf.train import IterationFn, make_crf, search_crf, train_crf

__all__ = [
    "FEATURE_GROUPS",
    "FEATURE_SETS",
    "MODEL_FILE",
    "MODEL_FORMAT_VERSION",
    "MODEL_JSON",
    "RESOURCES_FILE",
    "RESOURCE_GROUPS",
    "CrfConfig",
    "CrfError",
    "CrfModel",
    "FeatureResources",
    "FeatureSet",
    "Features",
    "Gazetteer",
    "IterationFn",
    "PredictStats",
    "TrainStats",
    "build_resources",
    "case_lexicon",
    "check_groups",
    "config_from_params",
    "config_of",
    "get_feature_set",
    "is_all_caps_sentence",
    "jackknife_resources",
    "make_crf",
    "peak_rss_bytes",
    "search_crf",
    "sent2features",
    "short_shape",
    "train_crf",
    "word2features",
    "word_shape",
]
