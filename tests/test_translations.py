"""The Indonesian catalogue is complete, and the compiled file says what the source says."""

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "id" / "LC_MESSAGES"


def test_every_message_is_translated():
    catalogue = polib.pofile(str(LOCALE / "django.po"))
    assert catalogue.percent_translated() == 100
    assert catalogue.fuzzy_entries() == []
    assert len(catalogue) > 50


def test_the_compiled_catalogue_matches_its_source():
    # Run `make messages` after changing django.po: this fails until the .mo is rebuilt.
    catalogue = polib.pofile(str(LOCALE / "django.po"))
    with (LOCALE / "django.mo").open("rb") as compiled_file:
        compiled = gettext.GNUTranslations(compiled_file)
    for entry in catalogue:
        if entry.msgid_plural:
            assert compiled.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
        elif entry.msgctxt:
            assert compiled.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr, entry.msgid
        else:
            assert compiled.gettext(entry.msgid) == entry.msgstr, entry.msgid


def test_the_catalogue_has_every_text_the_code_uses(tmp_path):
    # Extract the texts from a copy of the sources, as `make messages` would, and compare.
    root = LOCALE.parent.parent.parent
    for folder in ("config", "inventory", "orders", "notifications", "templates", "locale"):
        shutil.copytree(root / folder, tmp_path / folder)
    shutil.copy(root / "manage.py", tmp_path / "manage.py")
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "id", "--no-obsolete"],
        cwd=tmp_path,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"},
        check=True,
        capture_output=True,
    )
    extracted = polib.pofile(str(tmp_path / "locale" / "id" / "LC_MESSAGES" / "django.po"))
    committed = polib.pofile(str(LOCALE / "django.po"))

    assert {e.msgid for e in extracted} == {e.msgid for e in committed}
