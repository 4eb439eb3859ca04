"""The profile of a version as one standalone HTML file: charts work offline, no server.

The same figures and template pieces as the version page; CSS, plotly.js (from the
installed plotly package) and our script are inlined, so the file can be mailed or
attached to a ticket and still draws.
"""

from __future__ import annotations

import json
from pathlib import Path

from lmops.data.entities import DatasetVersion, Profile
from lmops.server.ui.assets import plotly_js
from lmops.server.ui.profile_charts import column_charts
from lmops.server.ui.rendering import STATIC_DIR, templates


def render_report(version: DatasetVersion, profile: Profile) -> str:
    env = templates().env
    return env.get_template("dataset_report.html").render(
        this_version=version,
        profile=profile,
        charts=column_charts(profile),
        recipe=json.dumps(version.recipe, indent=2, ensure_ascii=False),
        css=(STATIC_DIR / "lmops.css").read_text(encoding="utf-8"),
        plotly=_inline_script(plotly_js().read_text(encoding="utf-8")),
        script=_inline_script((STATIC_DIR / "lmops.js").read_text(encoding="utf-8")),
    )


def write_report(version: DatasetVersion, profile: Profile, path: Path) -> Path:
    """Write the report to `path` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(version, profile), encoding="utf-8")
    return path


def _inline_script(code: str) -> str:
    """Script text that cannot close its <script> element early."""
    return code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
