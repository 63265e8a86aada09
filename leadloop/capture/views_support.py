"""Preparing a form definition for the server-rendered page: fields with their values and errors."""

import json
from dataclasses import dataclass

from leadloop.capture.definitions import Definition, FieldSpec


@dataclass
class RenderedField:
    spec: FieldSpec
    value: object
    error: str
    show_if_json: str

    @property
    def input_id(self) -> str:
        return f"ll-{self.spec.name}"

    @property
    def selected(self) -> list[str]:
        value = self.value
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass
class RenderedStep:
    number: int
    title: str
    fields: list[RenderedField]


def fields_with_errors(
    definition: Definition, answers: dict, errors: list[dict]
) -> list[RenderedStep]:
    by_field = {e["field"]: e["message"] for e in errors if e.get("field")}
    return [
        RenderedStep(
            number=index + 1,
            title=step.title,
            fields=[
                RenderedField(
                    spec=spec,
                    value=answers.get(spec.name, spec.default),
                    error=by_field.get(spec.name, ""),
                    show_if_json=json.dumps(
                        spec.show_if.model_dump(by_alias=True, exclude_none=True)
                    )
                    if spec.show_if
                    else "",
                )
                for spec in step.fields
            ],
        )
        for index, step in enumerate(definition.steps)
    ]
