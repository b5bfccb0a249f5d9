"""The renderer's errors and cache, and the template options of §6.1 (template, templateFile,
templateData) and how a template file's path is resolved.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from plica.certdesc import DescriptionError, defaults, load_template_option, render_x509, x509_data
from plica.certdesc.render import clear_cache, has_custom_template, resolve_template_path
from plica.templating import TemplateError

from .render_helpers import csr_for

# -- errors through the renderer ------------------------------------------------------------------------------


def test_bad_rendered_json_is_a_description_error_naming_the_template(ec_key: Any) -> None:
    data = x509_data("x", None, None, csr_for(ec_key, "x"))
    with pytest.raises(DescriptionError) as info:
        render_x509('{"subject": {{ toJson .Subject }}, "keyUsage": ["bogus"]}', data, name="custom.tpl")
    assert info.value.template == "custom.tpl"
    assert "unsupported keyUsage bogus" in str(info.value)
    with pytest.raises(DescriptionError, match="error unmarshaling certificate"):
        render_x509('{"subject": {{ .Subject.CommonName }}}', data)


def test_parse_errors_are_template_errors_and_are_not_cached(ec_key: Any) -> None:
    data = x509_data("x", None, None, csr_for(ec_key, "x"))
    for _ in range(2):
        with pytest.raises(TemplateError):
            render_x509('{{ env "HOME" }}', data)


def test_parsed_templates_are_cached(ec_key: Any) -> None:
    from plica.certdesc import render as render_module

    clear_cache()
    data = x509_data("x", None, None, csr_for(ec_key, "x"))
    render_x509(defaults.DEFAULT_LEAF_TEMPLATE.replace('"sans": {{ toJson .SANs }},', ""), data)
    render_x509(defaults.DEFAULT_LEAF_TEMPLATE.replace('"sans": {{ toJson .SANs }},', ""), data)
    assert len(render_module._cache) == 1


# -- template options (§6.1) ----------------------------------------------------------------


def test_template_option_precedence_and_forms(tmp_path: Path) -> None:
    (tmp_path / "leaf.tpl").write_text("{ file }")
    assert load_template_option(None, base_dir=str(tmp_path)) is None
    assert load_template_option({}, base_dir=str(tmp_path)) is None
    assert load_template_option({"templateData": {"a": 1}}, base_dir=str(tmp_path)) is None
    assert load_template_option({"templateFile": "leaf.tpl"}, base_dir=str(tmp_path)) == "{ file }"
    assert (
        load_template_option({"template": "  {inline}\n", "templateFile": "leaf.tpl"}, base_dir="")
        == "{inline}"
    )
    encoded = base64.b64encode(b'{"subject": "x"}').decode()
    assert load_template_option({"template": f"\n{encoded}\n"}, base_dir="") == '{"subject": "x"}'
    assert has_custom_template({"templateFile": "x"}) and not has_custom_template({"templateData": {}})


def test_template_file_is_read_on_every_call(tmp_path: Path) -> None:
    path = tmp_path / "t.tpl"
    path.write_text("one")
    assert load_template_option({"templateFile": str(path)}, base_dir="/") == "one"
    path.write_text("two")
    assert load_template_option({"templateFile": str(path)}, base_dir="/") == "two"


def test_template_option_errors(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match="error decoding template"):
        load_template_option({"template": "not base64 at all!"}, base_dir=str(tmp_path))
    with pytest.raises(DescriptionError, match="error reading template file"):
        load_template_option({"templateFile": "missing.tpl"}, base_dir=str(tmp_path))


def test_step_abs_path_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/step")
    assert resolve_template_path("/etc/t.tpl", base_dir="/steppath") == "/etc/t.tpl"
    assert resolve_template_path("~/t.tpl", base_dir="/steppath") == "/home/step/t.tpl"
    assert resolve_template_path("./t.tpl", base_dir="/steppath") == os.path.join(str(tmp_path), "t.tpl")
    assert resolve_template_path("../t.tpl", base_dir="/steppath") == os.path.join(
        str(tmp_path.parent), "t.tpl"
    )
    assert resolve_template_path("templates/t.tpl", base_dir="/steppath") == "/steppath/templates/t.tpl"
