"""`make screenshots`: the README's pictures, rendered from the snapshot tests' own scenes.

Run as `python -m tests.ui.screenshots [OUTDIR]`. Each scene of `tests/ui/test_snapshots.py`
and a few of `tests/ui/test_snapshots_screens.py` (logs, the delete dialog, GC history, the
audit log) is played over the same fake data and fixed clock, and the screen is exported as
SVG; the main screen is also exported in every shipped theme. Nothing here reaches a registry.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from regtui.ui.app import RegtuiApp
from tests.ui import test_snapshots_screens as screens
from tests.ui.fakes import fake_factory, fixed_clock
from tests.ui.test_snapshots import GALLERY_THEMES, SCENES, SIZES, at_tags

ROOT = Path(__file__).resolve().parents[2]
MORE = {"logs": screens.LOG_SCENES["logs-following"],
        "delete-tag": screens.SCENES["delete-tag-typed"],
        "gc-history": screens.SCENES["gc-history"], "audit-log": screens.SCENES["audit-log"]}
"""Picture name -> scene of the other snapshot file (its config follows the scene's)."""
SOURCE = {"delete-tag": "delete-tag-typed"}


async def render(scene: str, size: tuple[int, int], theme: str, out: Path) -> Path:
    target = out.resolve() / f"{scene}-{size[0]}x{size[1]}.svg"
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative state dirs, as in the tests: no machine path on screen
        try:
            config = screens.scene_config(SOURCE.get(scene, scene), Path("."))
            app = RegtuiApp(replace(config, theme=theme), factory=fake_factory(),
                            clock=fixed_clock)
            async with app.run_test(size=size) as pilot:
                await {**SCENES, **MORE}.get(scene, at_tags)(pilot)
                target.write_text(app.export_screenshot(title=f"regtui {scene}"),
                                  encoding="utf-8")
        finally:
            os.chdir(here)
    return target


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = [await render(scene, size, "regtui-dusk", out)
               for scene in [*SCENES, *MORE] for size in SIZES]
    for theme in GALLERY_THEMES:
        written.append(await render(f"theme-{theme}", (160, 48), theme, out))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots"))
