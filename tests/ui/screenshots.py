"""`make screenshots`: the README's pictures, rendered from the snapshot tests' own scenes.

Run as `python -m tests.ui.screenshots [OUTDIR]`. Each scene of `tests/ui/test_snapshots.py`
is played over the same fake data and fixed clock, and the screen is exported as SVG; the
main screen is also exported in every shipped theme. Nothing here reaches a registry.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from regtui.ui.app import RegtuiApp
from tests.ui.fakes import fake_config, fake_factory, fixed_clock
from tests.ui.test_snapshots import GALLERY_THEMES, SCENES, SIZES, at_tags

ROOT = Path(__file__).resolve().parents[2]


async def render(scene: str, size: tuple[int, int], theme: str, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        app = RegtuiApp(fake_config(Path(tmp), theme=theme), factory=fake_factory(),
                        clock=fixed_clock)
        async with app.run_test(size=size) as pilot:
            await SCENES.get(scene, at_tags)(pilot)
            target = out / f"{scene}-{size[0]}x{size[1]}.svg"
            target.write_text(app.export_screenshot(title=f"regtui {scene}"), encoding="utf-8")
            return target


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = [await render(scene, size, "regtui-dusk", out)
               for scene in SCENES for size in SIZES]
    for theme in GALLERY_THEMES:
        written.append(await render(f"theme-{theme}", (160, 48), theme, out))
    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots"))
