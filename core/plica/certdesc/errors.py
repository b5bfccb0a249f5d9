"""The error a certificate description raises when a rendered template cannot become a certificate."""

from __future__ import annotations


class DescriptionError(ValueError):
    """A rendered template could not be turned into a certificate (step-ca answers 500).

    `template` names the template, `detail` is the bare reason; `str(err)` carries both.
    """

    def __init__(self, detail: str, *, template: str | None = None) -> None:
        self.detail = detail
        self.template = template
        super().__init__(f'template "{template}": {detail}' if template else detail)

    def with_template(self, template: str) -> DescriptionError:
        return self if self.template else DescriptionError(self.detail, template=template)


__all__ = ["DescriptionError"]
