from django.contrib import admin

from .models import Activity, Invitation, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Staff set each team's monthly budget here, personal teams included (they start
    with RETOUCH_PERSONAL_BUDGET_USD)."""

    list_display = ["name", "is_personal", "monthly_budget_usd", "created_at"]
    list_editable = ["monthly_budget_usd"]
    list_filter = ["is_personal"]
    search_fields = ["name", "memberships__user__username"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are made by owners in the app; staff can look them up and see who
    used which link, and cancel one by setting "revoked at"."""

    list_display = ["team", "role", "email", "created_by", "created_at", "expires_at", "state"]
    list_filter = ["role", "created_at"]
    list_select_related = ["team", "created_by"]
    search_fields = ["team__name", "email", "created_by__username", "used_by__username"]
    raw_id_fields = ["team", "created_by", "used_by"]
    readonly_fields = ["token", "created_at", "used_at", "used_by"]

    @admin.display(description="State")
    def state(self, invitation: Invitation) -> str:
        return invitation.problem or "Waiting to be used"


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    """The activity log is a record: readable, never edited by hand."""

    list_display = ["created_at", "team", "actor_name", "verb", "summary"]
    list_filter = ["verb", "created_at"]
    list_select_related = ["team"]
    search_fields = ["team__name", "actor_name", "summary"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
