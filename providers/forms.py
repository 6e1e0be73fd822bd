"""Form pieces shared by every admin form that takes a secret."""

from __future__ import annotations

from django import forms


class SecretFieldsMixin(forms.ModelForm):
    """A write-only API key: never rendered back, blank keeps the stored one."""

    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored key.",
    )
    clear_api_key = forms.BooleanField(label="Remove the stored key", required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        hint = self.instance.api_key_hint if self.instance and self.instance.pk else ""
        if hint:
            self.fields["api_key"].help_text = f"Stored key: {hint}. Leave blank to keep it."

    def full_clean(self) -> None:
        super().full_clean()
        # A password field is never rendered back, so a key typed into a form that
        # failed elsewhere is lost: say so next to the field rather than silently.
        typed = self.is_bound and (self.data.get(self.add_prefix("api_key")) or "").strip()
        if typed and self._errors and "api_key" not in self._errors:
            self._errors["api_key"] = self.error_class(
                ["The key you typed is not shown again after an error: re-enter it before saving."]
            )

    def new_api_key(self) -> str | None:
        """What to do with the stored key: None keeps it, "" removes it."""
        if self.cleaned_data.get("clear_api_key"):
            return ""
        return self.cleaned_data.get("api_key") or None
