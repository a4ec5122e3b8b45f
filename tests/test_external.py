"""``nerbench score`` and :mod:`bench.external` on small invented files: reading, lining up, scoring."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import external
from bench.__main__ import main
from bench.data.load import load_task_data
from bench.errors import ConfigError, DataFormatError
from bench.results import read_predictions as read_saved_predictions
from bench.results import read_result
from bench.scoring import score_split
from bench.spec import load_task_file

from .conftest import TINY_TASK

FIXTURES = Path(__file__).parent / "fixtures" / "external"

# The tiny CoNLL task's test split (conftest.CONLL_TINY): 3 sentences, 9 tokens.
GOLD_TOKENS = ["EU", "rejects", "German", "call", ".", "Peter", "Blackburn", "BRUSSELS", "1996-08-22"]
GOLD_TAGS = ["B-ORG", "O", "B-MISC", "O", "O", "B-PER", "I-PER", "B-LOC", "O"]


@pytest.fixture
def tiny(tmp_path: Path, conll_dir: Path):
    task_file = tmp_path / "tiny.toml"
    task_file.write_text(TINY_TASK)
    return load_task_data(load_task_file(task_file), data_dir=conll_dir.parent, allow_hub=False)


@pytest.fixture
def tinykd():
    return load_task_data(load_task_file(FIXTURES / "tinykd.toml"), data_dir=FIXTURES, allow_hub=False)


def conll(tmp_path: Path, lines: list[str], *, name: str = "pred.conll", eol: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(eol.join(lines).encode() + eol.encode())
    return path


def rows(tokens: list[str], tags: list[str], sep: str = "\t") -> list[str]:
    return [f"{w}{sep}{t}" for w, t in zip(tokens, tags, strict=True)]


def flat(tags: list[list[str]]) -> list[str]:
    return [t for s in tags for t in s]


# --------------------------------------------------------------------------- CoNLL


def test_conll_crlf_spaces_own_blank_lines_and_docstart(tiny, tmp_path: Path) -> None:
    # no blank line where the gold has them, blank lines where it has none, a -DOCSTART- line
    lines = ["-DOCSTART- O", ""] + rows(GOLD_TOKENS[:3], GOLD_TAGS[:3], " ") + [""] + rows(
        GOLD_TOKENS[3:], GOLD_TAGS[3:], " ")
    p = external.read_predictions(conll(tmp_path, lines, eol="\r\n"), tiny, "test")
    assert p.format == "conll" and p.spans is None
    assert p.tags == [GOLD_TAGS[:5], GOLD_TAGS[5:7], GOLD_TAGS[7:]]
    assert p.stats["tokens_aligned"] == 9 and p.stats["substituted_tokens"] == 0
    assert p.stats["docstart_lines"] == 1 and p.stats["crlf_lines"] == len(lines)
    assert p.stats["scheme"] == "IOB2" and p.notes == []


def test_conll_predicted_tag_is_the_last_column(tiny, tmp_path: Path) -> None:
    pred = ["O"] * 9
    lines = [f"{w}\tNN\t{g}\t{t}" for w, g, t in zip(GOLD_TOKENS, GOLD_TAGS, pred, strict=True)]
    p = external.read_predictions(conll(tmp_path, lines), tiny, "test")
    assert flat(p.tags) == pred


def test_conll_iob1_is_converted_and_recorded(tiny, tmp_path: Path) -> None:
    iob1 = ["I-ORG", "O", "I-MISC", "O", "O", "I-PER", "I-PER", "I-LOC", "O"]
    p = external.read_predictions(conll(tmp_path, rows(GOLD_TOKENS, iob1)), tiny, "test")
    assert flat(p.tags) == GOLD_TAGS
    assert p.stats["scheme"] == "IOB1" and p.stats["scheme_source"] == "detected" and p.stats["tags_changed"] == 4
    assert any("IOB1" in n and "4 tags changed" in n for n in p.notes)


def test_conll_bioes_is_converted(tiny, tmp_path: Path) -> None:
    bioes = ["S-ORG", "O", "S-MISC", "O", "O", "B-PER", "E-PER", "S-LOC", "O"]
    p = external.read_predictions(conll(tmp_path, rows(GOLD_TOKENS, bioes)), tiny, "test")
    assert flat(p.tags) == GOLD_TAGS and p.stats["scheme"] == "BIOES"


def test_conll_stray_i_tags_of_an_iob2_file_are_kept_and_counted(tiny, tmp_path: Path) -> None:
    tags = ["B-ORG", "O", "I-MISC", "O", "O", "B-PER", "I-PER", "B-LOC", "O"]
    p = external.read_predictions(conll(tmp_path, rows(GOLD_TOKENS, tags)), tiny, "test")
    assert flat(p.tags) == tags and p.stats["scheme"] == "IOB2" and p.stats["scheme_violations"] == 1
    metrics, _ = score_split(tiny.task, tiny.sentences("test"), p.tags, n_resamples=10)
    assert metrics["conlleval"]["micro"]["tp"] == 4  # conlleval opens an entity at the stray I-MISC
    assert metrics["strict"]["micro"]["tp"] == 3  # strict does not


def test_conll_declared_scheme_wins(tiny, tmp_path: Path) -> None:
    # B- used only between adjacent entities of one type is IOB1 when declared so
    tags = ["I-ORG", "O", "I-MISC", "O", "O", "I-PER", "B-PER", "I-LOC", "O"]
    path = conll(tmp_path, rows(GOLD_TOKENS, tags))
    p = external.read_predictions(path, tiny, "test", scheme="IOB1")
    assert flat(p.tags)[5:7] == ["B-PER", "B-PER"] and p.stats["scheme_source"] == "given"
    with pytest.raises(ConfigError, match="unknown scheme"):
        external.read_predictions(path, tiny, "test", scheme="IOBX")


def test_conll_substituted_tokens_line_up_and_are_counted(tiny, tmp_path: Path) -> None:
    tokens = list(GOLD_TOKENS)
    tokens[1] = "rejected"
    path = conll(tmp_path, rows(tokens, GOLD_TAGS))
    p = external.read_predictions(path, tiny, "test")
    assert flat(p.tags) == GOLD_TAGS and p.stats["substituted_tokens"] == 1
    assert "line 2: 'rejected' for 'rejects'" in p.notes[0]
    with pytest.raises(DataFormatError) as exc:
        external.read_predictions(path, tiny, "test", exact_tokens=True)
    assert f"{path}:2:" in str(exc.value) and "expected 'rejects'" in str(exc.value)


def test_conll_dropped_token_names_the_line_and_the_gold_token(tiny, tmp_path: Path, conll_dir: Path) -> None:
    lines = rows(GOLD_TOKENS, GOLD_TAGS)
    del lines[2]  # "German"
    path = conll(tmp_path, lines)
    with pytest.raises(DataFormatError) as exc:
        external.read_predictions(path, tiny, "test")
    msg = str(exc.value)
    # the gold file (conftest.CONLL_TINY) has German on line 5
    assert msg.startswith(f"{path}:3: token 'call' does not line up with the gold: expected 'German' ")
    assert f"{conll_dir / 'test.txt'}:5" in msg


def test_conll_added_token_and_short_and_long_files(tiny, tmp_path: Path) -> None:
    lines = rows(GOLD_TOKENS, GOLD_TAGS)
    extra = lines[:4] + ["again\tO"] + lines[4:]
    with pytest.raises(DataFormatError, match=r":5: token 'again' does not line up with the gold: expected '\.'"):
        external.read_predictions(conll(tmp_path, extra, name="a.conll"), tiny, "test")
    with pytest.raises(DataFormatError, match=r":7: the predictions end after 7 tokens but the gold has 9"):
        external.read_predictions(conll(tmp_path, lines[:7], name="b.conll"), tiny, "test")
    with pytest.raises(DataFormatError, match=r":10: token 'more' is past the end of the gold"):
        external.read_predictions(conll(tmp_path, lines + ["more\tO"], name="c.conll"), tiny, "test")


def test_conll_bad_tags_and_types_name_the_line(tiny, tmp_path: Path) -> None:
    lines = rows(GOLD_TOKENS, GOLD_TAGS)
    bad = list(lines)
    bad[3] = "call\tX-PER"
    with pytest.raises(DataFormatError, match=r":4: bad tag 'X-PER'"):
        external.read_predictions(conll(tmp_path, bad, name="a.conll"), tiny, "test")
    bad = list(lines)
    bad[3] = "call\tB-PERSON"
    with pytest.raises(DataFormatError, match=r":4: entity type 'PERSON' is not one of the task's entity types"):
        external.read_predictions(conll(tmp_path, bad, name="b.conll"), tiny, "test")
    bad = list(lines)
    bad[3] = "call"
    with pytest.raises(DataFormatError, match=r":4: found 1 column"):
        external.read_predictions(conll(tmp_path, bad, name="c.conll"), tiny, "test")


def test_align_tokens_out_of_step_with_the_same_length() -> None:
    gold = [str(i) for i in range(30)]
    shifted = gold[:5] + gold[6:20] + ["x"] + gold[20:]  # one dropped, one added: 14 tokens out of step
    subs, bad = external.align_tokens(gold, shifted)
    assert bad == (5, 5)
    subs, bad = external.align_tokens(gold, ["y" if i % 3 == 0 else t for i, t in enumerate(gold)])
    assert bad is None and subs == list(range(0, 30, 3))


# --------------------------------------------------------------------------- BRAT

EXPECTED_TINYKD = {"correct": 2, "incorrect": 2, "partial": 2, "missing": 1, "spurious": 0}
"""tinykd-run against tinykd/test, worked out by hand with the official rule (see the fixture)."""


def official(data, p) -> dict:
    metrics, _ = score_split(data.task, data.sentences("test"), p.tags, n_resamples=10, pred_spans=p.spans)
    return metrics["spans"]["official"]


def test_brat_folder_is_scored_by_the_official_rule(tinykd) -> None:
    p = external.read_predictions(FIXTURES / "tinykd-run", tinykd, "test")
    assert p.format == "brat"
    got = official(tinykd, p)
    assert {k: got[k] for k in EXPECTED_TINYKD} == EXPECTED_TINYKD
    assert got["skipped_sentences"] == 1 and got["spurious_in_skipped"] == 1
    assert p.stats["multi_fragment_entities"] == 1 and p.stats["attributes_ignored"] == 1
    # word tags for the token-level metrics, from the task's BIO view (longest wins an overlap)
    assert p.tags[0][:4] == ["O", "B-Concept", "I-Concept", "B-Action"]
    assert p.stats["bio_overlaps_dropped"] == 1


def test_brat_crlf_text_and_ann_file_path(tinykd, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    txt = (FIXTURES / "tinykd-run" / "scenario.txt").read_text(encoding="utf-8")
    (run / "scenario.txt").write_bytes(txt.replace("\n", "\r\n").encode())
    ann = (FIXTURES / "tinykd-run" / "scenario.ann").read_text(encoding="utf-8")
    (run / "scenario.ann").write_bytes(ann.replace("\n", "\r\n").encode())
    # offsets count a CRLF as one character, as the official scorer (universal newlines) does
    p = external.read_predictions(run / "scenario.ann", tinykd, "test")
    assert {k: official(tinykd, p)[k] for k in EXPECTED_TINYKD} == EXPECTED_TINYKD


def test_brat_without_own_text_uses_the_gold_text(tinykd, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "tinykd-run" / "scenario.ann", tmp_path / "scenario.ann")
    p = external.read_predictions(tmp_path, tinykd, "test")
    assert {k: official(tinykd, p)[k] for k in EXPECTED_TINYKD} == EXPECTED_TINYKD
    assert any("no scenario.txt" in n for n in p.notes)


def test_brat_text_column_is_not_checked_but_counted(tinykd, tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "tinykd-run", tmp_path / "run")
    ann = tmp_path / "run" / "scenario.ann"
    ann.write_text(ann.read_text(encoding="utf-8").replace("fiebre alta", "fiebre_alta"), encoding="utf-8")
    p = external.read_predictions(tmp_path / "run", tinykd, "test")
    assert p.stats["entity_texts_differing"] == 1 and "line 1 (T1) 'fiebre_alta'" in p.notes[0]
    assert {k: official(tinykd, p)[k] for k in EXPECTED_TINYKD} == EXPECTED_TINYKD


@pytest.mark.parametrize(("line", "message"), [
    ("T9\tDisease 3 9\tfiebre", r"scenario.ann:9 \(T9\): entity type 'Disease' is not one of"),
    ("T9\tConcept 3\tfiebre", r"scenario.ann:9: malformed entity line"),
    ("X1\tsomething", r"scenario.ann:9: unrecognised annotation line"),
    ("T9\tConcept 9 3\tfiebre", r"scenario.ann:9 \(T9\): empty or reversed fragment 9-3"),
    ("T9\tConcept 300 309\tfiebre", r"scenario.ann:9 \(T9\): offsets 300-309 out of range"),
])
def test_brat_bad_lines_name_the_line(tinykd, tmp_path: Path, line: str, message: str) -> None:
    shutil.copytree(FIXTURES / "tinykd-run", tmp_path / "run")
    ann = tmp_path / "run" / "scenario.ann"
    ann.write_text(ann.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        external.read_predictions(tmp_path / "run", tinykd, "test")


def test_brat_missing_sentences_are_scored_empty_as_officially(tinykd, tmp_path: Path) -> None:
    # a run that lacks the first sentence: its lines pair with later gold sentences by their letters
    run = tmp_path / "run"
    run.mkdir()
    first, *rest = (FIXTURES / "tinykd-run" / "scenario.txt").read_text(encoding="utf-8").split("\n")
    (run / "scenario.txt").write_text("\n".join(rest), encoding="utf-8")
    shift = len(first) + 1
    ann = []
    for line in (FIXTURES / "tinykd-run" / "scenario.ann").read_text(encoding="utf-8").splitlines():
        if line.startswith("T"):
            tid, mid, text = line.split("\t")
            etype, offs = mid.split(" ", 1)
            frags = [[int(x) - shift for x in f.split()] for f in offs.split(";")]
            if frags[0][0] < 0:
                continue
            line = f"{tid}\t{etype} " + ";".join(f"{a} {b}" for a, b in frags) + f"\t{text}"
        ann.append(line)
    (run / "scenario.ann").write_text("\n".join(ann) + "\n", encoding="utf-8")
    p = external.read_predictions(run, tinykd, "test")
    assert p.stats["gold_sentences_unmatched"] == 1 and p.spans[0] == [] and len(p.spans[1]) == 3
    assert any("1 gold sentences have no matching line" in n for n in p.notes)
    got = official(tinykd, p)
    # sentence 1 as before (2 incorrect, 1 partial); the 4 gold entities of sentence 0 are missing
    assert {k: got[k] for k in EXPECTED_TINYKD} == {"correct": 0, "incorrect": 2, "partial": 1, "missing": 4,
                                                    "spurious": 0}


def test_brat_needs_a_brat_task(tiny) -> None:
    with pytest.raises(ConfigError, match="not a BRAT task"):
        external.read_predictions(FIXTURES / "tinykd-run", tiny, "test")


def test_brat_folder_without_the_ann_file(tinykd, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no scenario.ann here"):
        external.read_predictions(tmp_path, tinykd, "test", format="brat")


# --------------------------------------------------------------------------- JSONL


def jsonl(tmp_path: Path, objs: list[dict], name: str = "pred.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs), encoding="utf-8")
    return path


def test_jsonl_in_order_with_text(tiny, tmp_path: Path) -> None:
    objs = [
        {"text": "EU rejects German call .", "entities": [{"start": 0, "end": 2, "type": "ORG"},
                                                       {"start": 11, "end": 17, "type": "MISC"}]},
        # any whitespace between the gold words; nerbench predict's extra keys are ignored
        {"line": 2, "text": "Peter   Blackburn", "entities": [
            {"text": "Peter   Blackburn", "start": 0, "end": 17, "type": "PER", "score": 0.9}]},
        {"text": "BRUSSELS\t1996-08-22", "entities": [{"start": 0, "end": 8, "type": "LOC"}]},
    ]
    p = external.read_predictions(jsonl(tmp_path, objs), tiny, "test")
    assert p.format == "jsonl" and flat(p.tags) == GOLD_TAGS and p.spans is None
    assert p.stats["paired_by"] == "order" and p.notes == []


def test_jsonl_by_sentence_index_and_words_cut_inside(tiny, tmp_path: Path) -> None:
    # without text, offsets count the gold words joined by single spaces
    objs = [{"sentence": 2, "entities": [{"start": 0, "end": 5, "type": "LOC"}]},
            {"sentence": 0, "entities": []}]
    p = external.read_predictions(jsonl(tmp_path, objs), tiny, "test")
    assert p.tags == [["O"] * 5, ["O", "O"], ["B-LOC", "O"]]
    assert p.stats["sentences_without_object"] == 1 and p.stats["entities_inside_words"] == 1
    assert any("inside a word" in n for n in p.notes)


@pytest.mark.parametrize(("objs", "message"), [
    ([{"text": "EU rejects Germany call .", "entities": []}] + [{"entities": []}] * 2,
     r":1: 'text' is not the gold words of sentence"),
    ([{"sentence": 0, "entities": []}, {"entities": []}], r":2: either every object has 'sentence'"),
    ([{"sentence": 0, "entities": []}, {"sentence": 0, "entities": []}], r":2: sentence 0 already given on line 1"),
    ([{"sentence": 3, "entities": []}], r":1: 'sentence' must be an index 0-2"),
    ([{"entities": []}] * 2, r"2 objects but the split has 3 sentences"),
    ([{"entities": [{"start": 0, "end": 99, "type": "ORG"}]}] + [{"entities": []}] * 2,
     r":1: entity 1: offsets 0-99 outside the text"),
    ([{"entities": [{"start": 0, "end": 2, "type": "COMPANY"}]}] + [{"entities": []}] * 2,
     r":1 \(entity 1\): entity type 'COMPANY' is not one of"),
    ([{"entities": [{"start": "0", "end": 2, "type": "ORG"}]}] + [{"entities": []}] * 2,
     r":1: entity 1: start and end must be integers"),
])
def test_jsonl_errors_name_the_line(tiny, tmp_path: Path, objs: list[dict], message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        external.read_predictions(jsonl(tmp_path, objs), tiny, "test")


def test_jsonl_bad_json_names_the_line(tiny, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"entities": []}\n{"entities": [}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"p.jsonl:2: not valid JSON"):
        external.read_predictions(path, tiny, "test")


def test_jsonl_on_a_span_task_keeps_fragments(tinykd, tmp_path: Path) -> None:
    text = tinykd.sentences("test")[1].text  # El virus de las paperas se contagia.
    objs = [{"sentence": 1, "text": text, "entities": [
        {"fragments": [[3, 8], [16, 23]], "type": "Concept"}, {"start": 27, "end": 35, "type": "Action"}]}]
    p = external.read_predictions(jsonl(tmp_path, objs), tinykd, "test")
    assert p.spans is not None and p.spans[1][0].fragments == ((3, 8), (16, 23))
    got = official(tinykd, p)
    assert (got["correct"], got["partial"], got["missing"]) == (1, 1, 5)
    objs[0]["text"] = text.replace("virus", "VIRUS")
    with pytest.raises(DataFormatError, match=r"'text' differs from the gold sentence .* at character 3"):
        external.read_predictions(jsonl(tmp_path, objs, "b.jsonl"), tinykd, "test")


def test_detect_format(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text('\n{"entities": []}\n')
    (tmp_path / "b.txt").write_text("EU B-ORG\n")
    assert external.detect_format(tmp_path) == "brat"
    assert external.detect_format(tmp_path / "a.txt") == "jsonl"
    assert external.detect_format(tmp_path / "b.txt") == "conll"
    assert external.detect_format(tmp_path / "x.jsonl") == "jsonl"
    with pytest.raises(DataFormatError, match="not found"):
        external.detect_format(tmp_path / "missing.conll")


# --------------------------------------------------------------------------- CLI


def cli(*args: str) -> int:
    return main(["score", "--bootstrap", "20", *args])


def test_cli_writes_an_external_result_beside_trained_ones(tmp_path: Path, conll_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    task_file = tmp_path / "tiny.toml"
    task_file.write_text(TINY_TASK)
    path = conll(tmp_path, rows(GOLD_TOKENS, GOLD_TAGS), eol="\r\n")
    out = tmp_path / "raw"
    common = ["--task", str(task_file), "--data-dir", str(conll_dir.parent), "--results-dir", str(out),
              "--predictions", str(path), "--system", "ext-tagger"]
    assert cli(*common) == 0
    printed = capsys.readouterr().out
    assert "tiny · ext-tagger (external, conll) · test: conlleval F1 1.0000" in printed
    result_file = out / "tiny" / "ext-tagger" / "seed0-test.json"
    r = read_result(result_file)
    assert r["system"] == {"name": "ext-tagger", "kind": "external", "model": None, "format": "conll",
                           "source": {"file": "pred.conll", "sha256": external.sha256_bytes(path.read_bytes())}}
    assert r["seed"] == 0 and r["split"] == "test" and r["metrics"]["main"]["value"] == 1.0
    assert r["cell_key"]["system_config_hash"] == external.sha256_bytes(path.read_bytes())[:16]
    assert r["prediction"]["reading"]["crlf_lines"] == 9
    saved = read_saved_predictions(result_file, r)
    assert [row["tags"] for row in saved] == [GOLD_TAGS[:5], GOLD_TAGS[5:7], GOLD_TAGS[7:]]
    # scoring again replaces the result; --json prints a summary
    assert cli(*common, "--json") == 0
    assert json.loads(capsys.readouterr().out)["conlleval_f1"] == 1.0


def test_cli_errors_exit_2_with_file_and_line(tmp_path: Path, conll_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    task_file = tmp_path / "tiny.toml"
    task_file.write_text(TINY_TASK)
    lines = rows(GOLD_TOKENS, GOLD_TAGS)
    del lines[5]
    path = conll(tmp_path, lines)
    common = ["--task", str(task_file), "--data-dir", str(conll_dir.parent), "--results-dir", str(tmp_path / "raw")]
    assert cli(*common, "--predictions", str(path), "--system", "x") == 2
    assert f"error: {path}:6: token 'Blackburn' does not line up with the gold: expected 'Peter'" in capsys.readouterr().err
    assert cli(*common, "--predictions", str(path), "--system", "../x") == 2
    assert "a system name is a folder name" in capsys.readouterr().err
    assert cli(*common, "--predictions", str(path), "--system", "x", "--format", "jsonl") == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def test_cli_refuses_the_name_of_a_trained_system(tmp_path: Path, conll_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    task_file = tmp_path / "tiny.toml"
    task_file.write_text(TINY_TASK)
    path = conll(tmp_path, rows(GOLD_TOKENS, GOLD_TAGS))
    common = ["--task", str(task_file), "--data-dir", str(conll_dir.parent), "--results-dir", str(tmp_path / "raw"),
              "--predictions", str(path), "--system", "crf"]
    assert cli(*common) == 0
    result_file = tmp_path / "raw" / "tiny" / "crf" / "seed0-test.json"
    r = json.loads(result_file.read_text())
    r["system"]["kind"] = "crf"  # as if `nerbench run` had written it
    result_file.write_text(json.dumps(r))
    assert cli(*common) == 2
    assert "holds a result of the crf system 'crf'" in capsys.readouterr().err


def test_cli_brat_run_on_a_span_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "raw"
    assert cli("--task", str(FIXTURES / "tinykd.toml"), "--data-dir", str(FIXTURES), "--results-dir", str(out),
               "--predictions", str(FIXTURES / "tinykd-run"), "--system", "team-run1") == 0
    assert "official F1" in capsys.readouterr().out
    r = read_result(out / "tinykd" / "team-run1" / "seed0-test.json")
    assert {k: r["metrics"]["spans"]["official"][k] for k in EXPECTED_TINYKD} == EXPECTED_TINYKD
    assert r["metrics"]["spans"]["source"] == "predicted spans (external)"
    assert r["predictions"]["has_spans"] is True and r["system"]["format"] == "brat"


# --------------------------------------------------------------------------- the real WNUT-17 task


def test_wnut17_counts_match_source_md(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not (data_dir / "wnut17").is_dir():
        pytest.skip("no wnut17 folder in the data dir")
    assert main(["tasks", "--data-dir", str(data_dir), "--task", "wnut17", "--json", "--no-hub"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    splits = entry["splits"]
    # SOURCE.md: sentences / tokens / entities and per type, per file
    expected = {
        "train": (3394, 62730, 1975, [660, 548, 264, 140, 221, 142]),
        "dev": (1009, 15733, 836, [470, 74, 39, 105, 34, 114]),
        "test": (1287, 23394, 1079, [429, 150, 165, 142, 66, 127]),
    }
    types = ["person", "location", "group", "creative-work", "corporation", "product"]
    for split, (n_sent, n_tok, n_ent, per_type) in expected.items():
        st = splits[split]
        assert (st["sentences"], st["tokens"], st["entities"]) == (n_sent, n_tok, n_ent)
        assert [st["per_type"][t] for t in types] == per_type
    assert entry["warnings"] == []
