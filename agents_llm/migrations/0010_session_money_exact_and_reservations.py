"""A session's money becomes an integer count of 10⁻⁸ USD (exact sums on SQLite too),
and reservations become rows a sweep can release."""

from decimal import Decimal

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import agents_llm.metering.models

MONEY = ("budget_usd", "spent_usd", "reserved_usd")


def to_units(apps, schema_editor):
    MeteredSession = apps.get_model("agents_llm", "MeteredSession")
    for session in MeteredSession.objects.all().iterator():
        for name in MONEY:
            value = getattr(session, name)
            setattr(session, f"{name}_units", None if value is None else Decimal(value).quantize(Decimal("1e-8")))
        session.save(update_fields=[f"{name}_units" for name in MONEY])


def to_decimal(apps, schema_editor):
    MeteredSession = apps.get_model("agents_llm", "MeteredSession")
    for session in MeteredSession.objects.all().iterator():
        for name in MONEY:
            setattr(session, name, getattr(session, f"{name}_units"))
        session.save(update_fields=list(MONEY))


class Migration(migrations.Migration):
    dependencies = [("agents_llm", "0009_metered_fields_shared")]

    operations = [
        migrations.RemoveConstraint(model_name="meteredsession", name="metered_session_budget_usd_not_negative"),
        migrations.RemoveConstraint(model_name="meteredsession", name="metered_session_money_not_negative"),
        migrations.AddField("meteredsession", "budget_usd_units", agents_llm.metering.models.MoneyField(null=True, blank=True)),
        migrations.AddField("meteredsession", "spent_usd_units", agents_llm.metering.models.MoneyField(default=0)),
        migrations.AddField("meteredsession", "reserved_usd_units", agents_llm.metering.models.MoneyField(default=0)),
        migrations.RunPython(to_units, to_decimal),
        *[migrations.RemoveField("meteredsession", name) for name in MONEY],
        *[migrations.RenameField("meteredsession", f"{name}_units", name) for name in MONEY],
        migrations.AddConstraint(
            model_name="meteredsession",
            constraint=models.CheckConstraint(
                condition=models.Q(budget_usd__isnull=True) | models.Q(budget_usd__gte=0),
                name="metered_session_budget_usd_not_negative",
                violation_error_message="The USD budget cannot be negative.",
            ),
        ),
        migrations.AddConstraint(
            model_name="meteredsession",
            constraint=models.CheckConstraint(
                condition=models.Q(reserved_usd__gte=0) & models.Q(spent_usd__gte=0),
                name="metered_session_money_not_negative",
            ),
        ),
        migrations.CreateModel(
            name="Reservation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("tokens", models.PositiveBigIntegerField()),
                ("usd", agents_llm.metering.models.MoneyField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField(db_index=True)),
                ("session", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, related_name="reservations",
                    to="agents_llm.meteredsession",
                )),
            ],
            options={"db_table": "metered_reservations"},
        ),
    ]
