"""`c`/`d` copy only valid pull references; a hostile tag name is refused with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from regtui.ui.app import RegtuiApp
from regtui.ui.screens.tag import TagScreen
from tests.ui.conftest import AppMaker
from tests.ui.fakes import FakeData, FakeImage, _record
from tests.ui.terminal import clipboard_payloads, recording_terminal
from tests.ui.test_snapshots import settle

__all__ = ["recording_terminal"]  # the fixture, used by name

INJECTED = "line\nbreak; touch /tmp/pwned"
REPO = "evil/clip"


def clip_data() -> FakeData:
    data = FakeData()
    image = FakeImage("clip", days=1)
    data.images[image.manifest().digest] = image
    data.repos[REPO] = [_record(REPO, INJECTED, image), _record(REPO, "v1.0", image)]
    return data


async def copy_from(app: RegtuiApp, pilot: object, tag: str, key: str) -> TagScreen:
    record = next(r for r in clip_data().repos[REPO] if r.tag == tag)
    app.open_tag("lab", record)
    await settle(pilot)  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, TagScreen)
    await pilot.press(key)  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    return screen


@pytest.mark.usefixtures("recording_terminal")
async def test_a_hostile_tag_name_is_refused_a_valid_one_copied(make_app: AppMaker,
                                                                tmp_path: Path) -> None:
    app = make_app(clip_data())
    async with app.run_test(size=(160, 48)) as pilot:
        await copy_from(app, pilot, INJECTED, "c")
        assert app.clipboard == ""
        assert clipboard_payloads(app) == []
        refusals = [n.message for n in app._notifications if n.title == "Not copied"]
        assert len(refusals) == 1 and "is not a valid docker pull command" in refusals[0]
        assert "\n" not in refusals[0]

        await app.pop_screen()
        screen = await copy_from(app, pilot, "v1.0", "c")
        expected = "docker pull 127.0.0.1:5000/evil/clip:v1.0"
        assert app.clipboard == expected and clipboard_payloads(app) == [expected]
        await pilot.press("d")
        assert clipboard_payloads(app)[-1] == screen.by_digest
