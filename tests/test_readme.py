"""The README's example extracts are real: each one ingests with its default mapping."""

import re

import pytest

from conftest import EXTRACT_DATE, REPO
from linkage.connectors import ingest_file

EXAMPLES = re.findall(r"<!-- example: (\w+)\.csv -->\n```csv\n(.*?)```", (REPO / "README.md").read_text(), re.S)


OWN_MAPPING = re.search(r"<!-- example-mapping: \S+ -->\n```yaml\n(.*?)```", (REPO / "README.md").read_text(),
                        re.S).group(1)
OWN_CSV = re.search(r"<!-- example-own: \S+ -->\n```csv\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)


def test_readme_own_export_example_reads_as_it_says(store, tmp_path):
    """The README's own-export mapping (a split whole name, Excel day numbers, a value map, "no value"
    words, an NHS number stored as a number) reads its example file, saved as the mapping says."""
    (tmp_path / "m.yaml").write_text(OWN_MAPPING)
    (tmp_path / "own.csv").write_bytes(OWN_CSV.replace("\n", "\r\n").encode("cp1252"))
    r = ingest_file(store, "social_care", tmp_path / "own.csv", tmp_path / "m.yaml", extract_date=EXTRACT_DATE)
    assert (r.rows_read, r.accepted, r.quarantined, r.warned) == (2, 2, 0, 0)
    assert store.rows("SELECT forename, middle_names, surname, former_surname, date_of_birth::VARCHAR, sex, "
                      "nhs_number, postcode FROM store.records ORDER BY 1") == [
        ("Rhys", None, "DAVIES", "Jones", "2015-03-14", None, None, "SW1A 1AA"),
        ("Siân", "Marie", "O'BRIEN", None, "2015-03-14", "F", "0943476593", "SW1A 1AA")]
    assert store.rows("SELECT referral_date::VARCHAR FROM store.sc_referral") == [("2026-05-02",)]


def test_readme_has_one_example_per_source():
    assert sorted(name for name, _ in EXAMPLES) == ["education", "health", "social_care"]


@pytest.mark.parametrize("source,body", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_readme_example_ingests_and_matches_shipped_example(store, tmp_path, source, body):
    assert body == (REPO / "connectors" / "examples" / f"{source}.csv").read_text()
    path = tmp_path / f"{source}.csv"
    path.write_text(body)
    r = ingest_file(store, source, path, extract_date=EXTRACT_DATE)
    assert (r.rows_read, r.accepted, r.quarantined) == (1, 1, 0)


def test_readme_examples_alone_are_too_few_to_train(store, tmp_path):
    from linkage.errors import LinkageError
    from linkage.link import run_link

    for source, body in EXAMPLES:
        (tmp_path / f"{source}.csv").write_text(body)
        ingest_file(store, source, tmp_path / f"{source}.csv", extract_date=EXTRACT_DATE)
    with pytest.raises(LinkageError, match="too few to train"):
        run_link(store)
    assert store.scalar("SELECT count(*) FROM store.runs") == 0


def test_readme_examples_link_into_one_child_with_a_model_from_elsewhere(tmp_path, linked_store):
    from typer.testing import CliRunner

    from linkage.cli import app
    from linkage.link.run import export_model

    run = CliRunner().invoke
    trained, fresh = tmp_path / "trained", tmp_path / "fresh"
    trained.mkdir()
    export_model(linked_store, trained)        # month 1's trained model, written as `linkage link` writes it
    for source, body in EXAMPLES:
        (tmp_path / f"{source}.csv").write_text(body)
        assert run(app, ["ingest", str(tmp_path / f"{source}.csv"), "--source", source,
                         "--extract-date", "2026-10-01", "--data-dir", str(fresh)]).exit_code == 0
    out = run(app, ["link", "--model", str(trained / "model.json"), "--data-dir", str(fresh)])
    assert out.exit_code == 0, out.output
    assert "3 records -> 1 children" in out.output


def _documented_commands():
    """Every `linkage ...` line in the README's and docs' shell blocks, as (file, line)."""
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "deploy" / "README.md"]:
        if not doc.exists():
            continue
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("#")[0].strip().removeprefix("$ ")
                if line.startswith("linkage "):
                    yield doc.name, line


def test_every_documented_command_and_option_exists():
    """A reader copies these lines: each names a real command and only options that command takes."""
    import shlex

    import typer

    from linkage.cli import app

    root, wrong = typer.main.get_command(app), []
    lines = list(_documented_commands())
    assert len(lines) > 30
    for doc, line in lines:
        words, cmd = shlex.split(line.replace("\\", "").replace("[", " ").replace("]", " "))[1:], root
        while words and hasattr(cmd, "commands") and words[0] in cmd.commands:
            cmd = cmd.commands[words.pop(0)]
        if cmd is root or (hasattr(cmd, "commands") and not cmd.invoke_without_command):
            wrong.append(f"{doc}: {line}: no such command")
            continue
        known = {o.split("=")[0] for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        wrong += [f"{doc}: {line}: {cmd.name} has no option {o}" for w in words if w.startswith("--")
                  for o in w.split("=")[0].split("|") if o not in known]
    assert not wrong, "\n".join(wrong)
