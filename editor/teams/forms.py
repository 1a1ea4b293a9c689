from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class FirstAdminForm(UserCreationForm):
    """The very first account: a staff superuser who can then invite the team."""

    email = forms.EmailField(required=False, help_text="Optional. Used for invitations.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.is_staff = True
        user.is_superuser = True
        if commit:
            user.save()
        return user
