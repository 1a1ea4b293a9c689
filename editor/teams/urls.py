from django.contrib.auth.views import LogoutView
from django.urls import path

from . import language, views

urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("language/", language.switch_language, name="set_language"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("teams/new/", views.team_create, name="team_create"),
    path("teams/switch/", views.team_switch, name="team_switch"),
    path("teams/<int:team_id>/members/", views.team_members, name="team_members"),
    path("teams/<int:team_id>/rename/", views.team_rename, name="team_rename"),
    path("teams/<int:team_id>/budget/", views.team_budget, name="team_budget"),
    path("teams/<int:team_id>/leave/", views.team_leave, name="team_leave"),
    path("teams/<int:team_id>/invitations/", views.team_invitations, name="team_invitations"),
    path("teams/<int:team_id>/activity/", views.team_activity, name="team_activity"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("invitations/<int:pk>/cancel/", views.invitation_revoke, name="invitation_revoke"),
    path("join/<str:token>/", views.invitation_join, name="invitation_join"),
]
