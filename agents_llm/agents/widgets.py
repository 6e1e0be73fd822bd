"""The admin's schema builder: a form field and widget for a task's output schema."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.urls import NoReverseMatch, reverse

from agents_llm.output_schema import SchemaError


class SchemaBuilderWidget(forms.Widget):
    """Cards for each field, a live JSON preview and a raw-JSON mode (static/schema_builder/).

    The submitted value is the JSON text of the textarea, which the cards keep up to date.
    """

    template_name = "agents_llm/widgets/schema_builder.html"

    class Media:
        css = {"all": ("schema_builder/builder.css",)}
        js = ("schema_builder/model.js", "schema_builder/builder.js")

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.schema_errors: list[SchemaError] = []

    def format_value(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):  # re-rendered after a failed submit: show what was sent
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        try:
            validate_url = reverse("api:schemas_validate")
        except NoReverseMatch:
            validate_url = ""
        context["widget"].update(
            validate_url=validate_url,
            errors=[{"path": e.path, "msg": e.msg} for e in self.schema_errors],
            errors_id=f"{context['widget']['attrs'].get('id', name)}_schema_errors",
        )
        return context


class SchemaField(forms.JSONField):
    """A JSON field that survives hostile input (no RecursionError on deep nesting) and
    shows back exactly the text that was submitted."""

    widget = SchemaBuilderWidget

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError("The schema is nested too deeply.", code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        return initial if self.disabled else data

    def prepare_value(self, value: Any) -> Any:
        return value  # the widget formats it
