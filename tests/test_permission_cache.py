"""A token's permissions are cached with it (no permission query per call), and any
change to who may do what applies to the very next call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_llm.models import AgentConfig
from tests.api_support import ApiClient
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db

CHANGE_AGENT = "change_agentconfig"


@pytest.fixture
def member(db) -> User:
    user = User.objects.create_user("member", "member@example.com", "member-pass-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_agentconfig"))
    return user


@pytest.fixture
def client_of(member) -> ApiClient:
    return ApiClient(api_token_create(user=member, name="perm-cache")[1])


def _join_agent_editors(member: User) -> Group:
    """Puts `member` in a new group that may change agents."""
    group = Group.objects.create(name="agent-editors")
    group.permissions.add(Permission.objects.get(codename=CHANGE_AGENT))
    member.groups.add(group)
    return group


def _rename(client: ApiClient, agent, name: str):
    return client.patch(f"/agents/{agent.pk}", {"display_name": name})


def test_a_permission_granted_through_a_group_lets_the_very_next_call_through(client_of, member, agent):
    assert _rename(client_of, agent, "First").status_code == 403  # the refusal is now cached

    _join_agent_editors(member)

    response = _rename(client_of, agent, "Second")
    assert response.status_code == 200, response.content
    assert AgentConfig.objects.get(pk=agent.pk).display_name == "Second"


def test_a_permission_taken_from_the_group_refuses_the_very_next_call(client_of, member, agent):
    group = _join_agent_editors(member)
    assert _rename(client_of, agent, "Allowed").status_code == 200

    group.permissions.remove(Permission.objects.get(codename=CHANGE_AGENT))

    assert _rename(client_of, agent, "Refused").status_code == 403
    assert AgentConfig.objects.get(pk=agent.pk).display_name == "Allowed"


def test_a_user_made_superuser_or_taken_out_of_a_group_is_seen_at_once(client_of, member, agent):
    group = _join_agent_editors(member)
    assert _rename(client_of, agent, "One").status_code == 200
    member.groups.remove(group)
    assert _rename(client_of, agent, "Two").status_code == 403

    member.is_superuser = True
    member.save(update_fields=["is_superuser"])

    assert _rename(client_of, agent, "Three").status_code == 200
    assert AgentConfig.objects.get(pk=agent.pk).display_name == "Three"


def test_a_call_with_a_cached_token_reads_no_permission_table(client_of, member, agent):
    member.user_permissions.add(Permission.objects.get(codename=CHANGE_AGENT))
    assert _rename(client_of, agent, "Warm").status_code == 200  # token and permissions now cached

    with CaptureQueriesContext(connection) as queries:
        response = _rename(client_of, agent, "Cached")

    assert response.status_code == 200
    assert AgentConfig.objects.get(pk=agent.pk).display_name == "Cached"
    permission_tables = ("auth_permission", "auth_user_groups", "auth_group_permissions", "auth_user_user_permissions")
    assert not [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in permission_tables)]
