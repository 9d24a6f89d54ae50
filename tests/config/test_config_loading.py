from __future__ import annotations

from pathlib import Path

import pytest

from centralita.config import ConfigError, TenantsConfig, load_tenants, parse_model


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_tenants(str(path))
    return [str(issue) for issue in caught.value.issues]


VALID = """\
tenants:
  - name: acme
    domain: Acme.Test            # SIP domain and digest realm of the tenant
    default: false
    extensions:
      - {number: "101", name: Alice, password: "s3cret-101", call_waiting: false}
      - number: 0102
        name: "No"
        password: 12345678
"""


def test_valid_file(tmp_path: Path) -> None:
    config = load_tenants(str(write(tmp_path, VALID)))
    (acme,) = config.tenants
    assert (acme.name, acme.domain, acme.default) == ("acme", "acme.test", False)
    alice, second = acme.extensions
    assert (alice.number, alice.name, alice.password) == ("101", "Alice", "s3cret-101")
    # YAML 1.1 would read 0102 as octal 66 and 12345678 as an int: both stay text here.
    assert (second.number, second.password) == ("0102", "12345678")
    assert second.name == "No"  # not the boolean False
    assert second.call_waiting is False


def test_short_password_names_field_and_line(tmp_path: Path) -> None:
    text = """\
tenants:
  - name: acme
    domain: acme.test
    extensions:
      - number: "101"
        password: long-enough
      - number: "102"
        password: short
"""
    assert errors_of(write(tmp_path, text)) == [
        f"{tmp_path}/acme.yaml:8: tenants[0].extensions[1].password: "
        "String should have at least 8 characters"
    ]


def test_several_errors_each_with_its_line(tmp_path: Path) -> None:
    text = """\
tenants:
  - name: Acme Corp
    domain: "acme..test"
    extensions:
      - number: "1"
        password: "12345678"
        colour: blue
      - number: "102"
        password: "102"
"""
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:2: tenants[0].name: must be a slug: lower-case letters, digits and inner "
        "hyphens, at most 63 characters",
        f"{path}:3: tenants[0].domain: must be a host name such as acme.example.com",
        f"{path}:5: tenants[0].extensions[0].number: must be 2 to 6 digits",
        f"{path}:7: tenants[0].extensions[0].colour: Extra inputs are not permitted",
        f"{path}:9: tenants[0].extensions[1].password: String should have at least 8 characters",
    ]


def test_missing_field_points_at_the_mapping_lacking_it(tmp_path: Path) -> None:
    text = "tenants:\n  - name: acme\n\n  - name: beta\n    domain: beta.test\n"
    assert errors_of(write(tmp_path, text, "t.yaml")) == [
        f"{tmp_path}/t.yaml:2: tenants[0].domain: Field required"
    ]


def test_password_equal_to_number(tmp_path: Path) -> None:
    text = "tenants:\n- name: acme\n  domain: acme.test\n  extensions:\n"
    text += "  - {number: '12345678', password: '12345678'}\n"
    (error,) = errors_of(write(tmp_path, text))
    assert error.endswith(":5: tenants[0].extensions[0].number: must be 2 to 6 digits")
    text = text.replace("'12345678', password", "'1234', password")
    text = text.replace("password: '12345678'", "password: '1234'")
    (error,) = errors_of(write(tmp_path, text))
    assert "String should have at least 8 characters" in error


def test_duplicates_point_at_the_repeat(tmp_path: Path) -> None:
    text = """\
tenants:
  - name: acme
    domain: acme.test
    default: true
    extensions:
      - {number: "101", password: "password-1"}
      - {number: "102", password: "password-2"}
      - {number: "101", password: "password-3"}
  - name: beta
    domain: ACME.test
    default: true
"""
    path = write(tmp_path, text)
    (ext_error,) = errors_of(path)
    assert ext_error == (
        f"{path}:8: tenants[0].extensions[2].number: "
        "duplicate extension number '101' (first at index 0)"
    )
    path = write(
        tmp_path, text.replace('"101", password: "password-3"', '"103", password: "password-3"')
    )
    assert errors_of(path) == [
        f"{path}:10: tenants[1].domain: duplicate domain 'acme.test' (first at index 0)"
    ]


def test_two_default_tenants(tmp_path: Path) -> None:
    text = """\
tenants:
  - {name: acme, domain: acme.test, default: true}
  - {name: beta, domain: beta.test}
  - {name: gamma, domain: gamma.test, default: true}
"""
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:4: tenants[2].default: only one tenant may be the default (also at index 0)"
    ]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = "tenants:\n  - name: acme\n    domain: acme.test\n    name: beta\n"
    path = write(tmp_path, text)
    assert errors_of(path) == [f"{path}:4: tenants[0].name: duplicate key"]


def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    text = "tenants:\n  - name: acme\n    domain: acme.test\n   extensions: [\n"
    (error,) = errors_of(write(tmp_path, text))
    assert error.startswith(f"{tmp_path}/acme.yaml:4: invalid YAML:")


def test_yaml_syntax_error_in_flow_mapping(tmp_path: Path) -> None:
    text = (
        "tenants:\n  - name: acme\n    domain: acme.test\n    extensions:\n      - {number: 1: 2}\n"
    )
    (error,) = errors_of(write(tmp_path, text))
    assert error.startswith(f"{tmp_path}/acme.yaml:5: invalid YAML:")


def test_unreadable_file(tmp_path: Path) -> None:
    (error,) = errors_of(tmp_path / "missing.yaml")
    assert error.startswith(f"{tmp_path}/missing.yaml: cannot read:")


def test_wrong_top_level_shape(tmp_path: Path) -> None:
    (error,) = errors_of(write(tmp_path, "- just\n- a list\n"))
    assert error.startswith(f"{tmp_path}/acme.yaml:1: Input should be a valid dictionary")
    (error,) = errors_of(write(tmp_path, "tenants: {name: acme}\n"))
    assert error == f"{tmp_path}/acme.yaml:1: tenants: Input should be a valid list"


def test_empty_file_is_an_empty_configuration() -> None:
    assert parse_model("", TenantsConfig) == TenantsConfig(tenants=[])
    assert parse_model("# nothing yet\n", TenantsConfig).tenants == []


def test_unsafe_yaml_tags_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"<string>:1: invalid YAML"):
        parse_model("tenants: !!python/object/apply:os.system ['true']\n", TenantsConfig)


def test_model_accepts_json_integers_for_numbers() -> None:
    config = TenantsConfig.model_validate(
        {
            "tenants": [
                {
                    "name": "acme",
                    "domain": "acme.test",
                    "extensions": [{"number": 101, "password": "long-password"}],
                }
            ]
        }
    )
    assert config.tenants[0].extensions[0].number == "101"


def test_display_name_refuses_control_characters() -> None:
    text = "tenants:\n- name: acme\n  domain: acme.test\n  extensions:\n"
    text += '  - {number: "101", password: "password-1", name: "Eve\\r\\nVia: x"}\n'
    with pytest.raises(ConfigError, match=r":5: tenants\[0\]\.extensions\[0\]\.name: must not"):
        parse_model(text, TenantsConfig)
