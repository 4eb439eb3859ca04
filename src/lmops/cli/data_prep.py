"""`lmops data profile|sql|apply|steps|filter|dedup|redact|split|sample|reproduce|leakage`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lmops.cli.data import data, open_store
from lmops.cli.output import json_option
from lmops.cli.progress import progress_bar
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.data.entities import DatasetVersion, Profile

executor_option = click.option(
    "--executor",
    default="local",
    show_default=True,
    help="Where heavy work runs: an executor plugin name, or 'none' for this process.",
)


def _executor(name: str) -> str | None:
    return None if name == "none" else name


def _done(version: DatasetVersion, as_json: bool) -> None:
    if as_json:
        click.echo(version.model_dump_json(indent=2))
        return
    click.echo(f"{version.uri}: {version.row_count} rows, digest {version.digest[:12]}")
    if version.report:
        click.echo(_report_text(version.report))


def _report_text(report: dict[str, Any]) -> str:
    shown = {k: v for k, v in report.items() if k != "examples"}
    text = json.dumps(shown, indent=2, ensure_ascii=False)
    examples = report.get("examples") or []
    if examples:
        text += f"\n{len(examples)} example groups removed; see `lmops data show --json`"
    return text


def _apply(uri: str, op: str, params: dict[str, Any], into: str | None, executor: str) -> Any:
    from lmops.data.steps import apply

    with progress_bar() as echo:
        return apply(
            open_store(), uri, op, params, into=into, echo=echo, executor=_executor(executor)
        )


def _parse_params(op: str, pairs: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs; a value is JSON unless the parameter is text (`where=true` is SQL)."""
    from lmops.data.steps import lookup, param_types

    types = param_types(lookup(op))
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"parameters are key=value, not {pair!r}", field="param")
        if types.get(key) in (str, str | None):
            params[key] = raw
            continue
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


into_option = click.option("--into", help="Dataset that gets the new version (default: the same).")


@data.command("profile")
@click.argument("uri")
@click.option(
    "--tokenizer",
    help="Count tokens with a registered model's tokenizer (models:/name/1) or a "
    "tokenizer.json (or a directory holding one).",
)
@click.option("--near/--no-near", default=True, show_default=True, help="Count near-duplicates.")
@click.option("--language-sample", default=2000, show_default=True, type=click.IntRange(min=0))
@click.option("--html", "html_out", type=click.Path(path_type=Path), help="Also write a report.")
@executor_option
@json_option
def profile(
    uri: str,
    tokenizer: str | None,
    near: bool,
    language_sample: int,
    html_out: Path | None,
    executor: str,
    as_json: bool,
) -> None:
    """Profile a version and store the profile with it."""
    from lmops.data.profiling import Options, profile_version

    store = open_store()
    version = store.get_version(uri)
    options = Options(
        tokenizer=_tokenizer_path(tokenizer),
        near_duplicates=near,
        language_sample=language_sample,
    )
    with progress_bar() as echo:
        result = profile_version(store, version, options, executor=_executor(executor), echo=echo)
    if html_out is not None:
        from lmops.server.ui.report import write_report

        write_report(version, result, html_out)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    click.echo(_profile_text(version, result))
    if html_out is not None:
        click.echo(f"report: {html_out}")


def _tokenizer_path(tokenizer: str | None) -> str | None:
    """A `models:/` URI becomes the directory of that version's files (fetched once)."""
    if tokenizer is None or not tokenizer.startswith("models:/"):
        return tokenizer
    from lmops.registry.loading import local_files
    from lmops.registry.sdk import open_registry

    settings = Settings()
    registry = open_registry(settings)
    version = registry.get_version(tokenizer)
    if not version.format.tokenizer:
        raise InvalidInput(f"{version.uri} has no tokenizer files", field="tokenizer")
    return str(local_files(registry, version, settings.home / "models"))


def _profile_text(version: DatasetVersion, profile: Profile) -> str:
    lines = [f"{version.uri}: {profile.row_count} rows, profiled in {profile.duration_s:.1f} s"]
    for c in profile.columns:
        distinct = "-" if c.distinct is None else f"{c.distinct}{'' if c.distinct_exact else '~'}"
        lines.append(f"  {c.name} ({c.type}, {c.kind}): nulls {c.nulls}, distinct {distinct}")
        text = c.text
        if text is not None:
            pii = ", ".join(f"{k} {v}" for k, v in text.pii.items() if v) or "none"
            langs = ", ".join(f"{k} {v}" for k, v in list(text.languages.items())[:5]) or "-"
            near = "-" if text.near_duplicates is None else text.near_duplicates
            lines += [
                f"    chars p50 {text.chars.p50:g}, p99 {text.chars.p99:g}, max {text.chars.max:g}"
                + (f"; tokens p50 {text.tokens.p50:g}" if text.tokens else ""),
                f"    empty {text.empty}, overlong {text.overlong}, control chars "
                f"{text.control_chars}, exact dups {text.exact_duplicates}, near dups {near}",
                f"    PII: {pii}",
                f"    languages ({text.language_sample} sampled): {langs}",
            ]
        if c.top_values:
            top = ", ".join(f"{v.value} {v.count}" for v in c.top_values[:8])
            lines.append(f"    values: {top}")
        if c.chat is not None:
            roles = ", ".join(f"{k} {v}" for k, v in c.chat.roles.items())
            lines.append(f"    turns p50 {c.chat.turns.p50:g}, max {c.chat.turns.max:g}; {roles}")
    return "\n".join(lines)


@data.command("sql")
@click.argument("query")
@click.option("--save", "save_as", help="Store the whole result as the next version of SAVE.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0))
@json_option
def sql(query: str, save_as: str | None, limit: int, as_json: bool) -> None:
    """Run SQL (DuckDB) over versions named as 'datasets:/name/2' in QUERY."""
    from lmops.data import querying

    store = open_store()
    if save_as:
        with progress_bar() as echo:
            _done(querying.save(store, query, save_as, echo=echo), as_json)
        return
    table = querying.query(store, query, limit=limit)
    rows = table.to_pylist()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False, default=str))


@data.command("steps")
def list_steps() -> None:
    """List the preparation steps and their parameters."""
    import inspect

    from lmops.data.steps import steps

    for name, spec in steps().items():
        params = list(inspect.signature(spec.fn).parameters.values())[1:]
        shown = ", ".join(
            p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
            for p in params
        )
        summary = (inspect.getdoc(spec.fn) or "").split("\n\n")[0].replace("\n", " ")
        click.echo(f"{name}({shown})\n    {summary}")


@data.command("apply")
@click.argument("uri")
@click.argument("op")
@click.option(
    "--param", "-p", "pairs", multiple=True, help="key=value (value as JSON if it parses)."
)
@into_option
@executor_option
@json_option
def apply_step(
    uri: str, op: str, pairs: tuple[str, ...], into: str | None, executor: str, as_json: bool
) -> None:
    """Run step OP (see `lmops data steps`) on URI, making a new version."""
    _done(_apply(uri, op, _parse_params(op, pairs), into, executor), as_json)


@data.command("filter")
@click.argument("uri")
@click.argument("where")
@into_option
@json_option
def filter_(uri: str, where: str, into: str | None, as_json: bool) -> None:
    """Keep the rows where the SQL predicate WHERE holds."""
    _done(_apply(uri, "filter", {"where": where}, into, "none"), as_json)


@data.command("dedup")
@click.argument("uri")
@click.option("--column", "-c", default="text", show_default=True)
@click.option("--exact", "mode", flag_value="exact", help="Only exact duplicates (normalized).")
@click.option("--near", "mode", flag_value="near", default=True, help="Near-duplicates (MinHash).")
@click.option("--threshold", default=0.8, show_default=True, type=click.FloatRange(0, 1))
@click.option("--shingle-size", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--num-perm", default=128, show_default=True, type=click.IntRange(2, 1024))
@click.option("--keep", type=click.Choice(["first", "longest", "shortest"]), default="first")
@into_option
@executor_option
@json_option
def dedup(
    uri: str,
    column: str,
    mode: str,
    threshold: float,
    shingle_size: int,
    num_perm: int,
    keep: str,
    into: str | None,
    executor: str,
    as_json: bool,
) -> None:
    """Remove exact or near-duplicate rows of a text column."""
    if mode == "exact":
        version = _apply(uri, "dedup_exact", {"columns": [column]}, into, executor)
    else:
        params = {
            "column": column,
            "threshold": threshold,
            "shingle_size": shingle_size,
            "num_perm": num_perm,
            "keep": keep,
        }
        version = _apply(uri, "dedup_near", params, into, executor)
    _done(version, as_json)


@data.command("redact")
@click.argument("uri")
@click.option("--column", "-c", "columns", multiple=True, help="Default: every string column.")
@click.option("--kind", "kinds", multiple=True, help="PII kinds (default: all).")
@into_option
@json_option
def redact(
    uri: str, columns: tuple[str, ...], kinds: tuple[str, ...], into: str | None, as_json: bool
) -> None:
    """Replace emails, phones, cards, IBANs, IPs and secrets by [KIND] markers."""
    params = {"columns": list(columns) or None, "kinds": list(kinds) or None}
    _done(_apply(uri, "redact_pii", params, into, "none"), as_json)


@data.command("split")
@click.argument("uri")
@click.option("--key", required=True, help="Column whose hash decides each row's split.")
@click.option("--train", default=0.8, show_default=True, type=click.FloatRange(0, 1))
@click.option("--validation", default=0.1, show_default=True, type=click.FloatRange(0, 1))
@click.option("--test", default=0.1, show_default=True, type=click.FloatRange(0, 1))
@click.option("--seed", default=0, show_default=True)
@click.option("--check", "check_column", help="Text column to check for leakage between splits.")
@into_option
@executor_option
@json_option
def split(
    uri: str,
    key: str,
    train: float,
    validation: float,
    test: float,
    seed: int,
    check_column: str | None,
    into: str | None,
    executor: str,
    as_json: bool,
) -> None:
    """Add a `split` column (train/validation/test) by a seeded hash of KEY."""
    fractions = {
        name: share
        for name, share in (("train", train), ("validation", validation), ("test", test))
        if share > 0
    }
    params = {"key": key, "fractions": fractions, "seed": seed, "check_column": check_column}
    _done(_apply(uri, "split", params, into, executor), as_json)


@data.command("sample")
@click.argument("uri")
@click.option("-n", "rows", type=click.IntRange(min=0), help="Number of rows.")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), help="Share of rows.")
@click.option("--seed", default=0, show_default=True)
@into_option
@json_option
def sample(
    uri: str, rows: int | None, fraction: float | None, seed: int, into: str | None, as_json: bool
) -> None:
    """Keep N rows, or a FRACTION of them, chosen by a seeded hash."""
    _done(
        _apply(uri, "sample", {"n": rows, "fraction": fraction, "seed": seed}, into, "none"),
        as_json,
    )


@data.command("leakage")
@click.argument("uri")
@click.option("--column", "-c", default="text", show_default=True)
@click.option("--split-column", default="split", show_default=True)
@click.option("--threshold", default=0.8, show_default=True, type=click.FloatRange(0, 1))
@click.option("--fail", is_flag=True, help="Exit with status 1 when any row leaks.")
@executor_option
def leakage(
    uri: str, column: str, split_column: str, threshold: float, fail: bool, executor: str
) -> None:
    """Report exact and near-duplicate overlap of COLUMN between the splits of a version."""
    from lmops.data.dedup import leakage as check
    from lmops.data.files import local_parquet

    store = open_store()
    version = store.get_version(uri)
    with local_parquet(store, version) as path:
        found = check(path, column, split_column, threshold=threshold, executor=_executor(executor))
    click.echo(json.dumps(found, indent=2))
    if fail and (found["exact_rows"] or found["near_rows"]):
        raise SystemExit(1)


@data.command("reproduce")
@click.argument("uri")
@json_option
def reproduce(uri: str, as_json: bool) -> None:
    """Re-run URI's recipe from its root versions and compare the content hashes."""
    from lmops.data.reproducing import reproduce as rerun

    with progress_bar() as echo:
        result = rerun(open_store(), uri, echo=echo)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "uri": result.uri,
                    "ok": result.ok,
                    "steps": [s.__dict__ | {"ok": s.ok} for s in result.steps],
                },
                indent=2,
            )
        )
    else:
        for s in result.steps:
            mark = "ok  " if s.ok else "DIFF"
            click.echo(f"{mark} {s.uri:<32} {s.op:<12} {s.digest[:12]}  (stored {s.expected[:12]})")
        if not result.steps:
            verdict = "a root version (imported, not derived): there is no recipe to re-run"
        else:
            verdict = "same content hash" if result.ok else "content hash differs"
        click.echo(f"{result.uri}: {verdict}")
    if not result.ok:
        raise SystemExit(1)
