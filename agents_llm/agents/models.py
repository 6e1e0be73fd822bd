"""Agents, their LLM configs and aliases, the tasks they answer and who may answer which, and presets."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from providers import crypto
from providers.models import LLMProvider


class AgentRole(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    RESEARCHER = "researcher", "Researcher"
    MANAGER = "manager", "Manager"
    TRADER = "trader", "Trader"
    RISK = "risk", "Risk analyst"
    OTHER = "other", "Other"


# Where instructions apply: a client of the gateway sends its own prompts (issue 27).
INSTRUCTIONS_HELP = (
    "The system prompt of this agent's runs (admin Run button, POST /api/v1/runs). "
    "Gateway calls (/v1/chat/completions) do not use it: they pass the client's own messages unchanged."
)


class AgentConfig(models.Model):
    name = models.SlugField(max_length=64, unique=True)  # unique implies an index
    display_name = models.CharField(max_length=120)
    role = models.CharField(max_length=32, choices=AgentRole.choices, default=AgentRole.OTHER)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text=INSTRUCTIONS_HELP)
    enabled = models.BooleanField(default=True)
    metadata_json = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "agent_configs"
        ordering = ["name"]
        verbose_name = "agent"

    def __str__(self) -> str:
        return self.display_name or self.name

    def clean(self) -> None:
        if self.name and AgentAlias.objects.filter(name_key=alias_key(self.name)).exclude(agent_id=self.pk).exists():
            raise ValidationError({"name": f"'{self.name}' is already an alias of another agent."})


class AgentAlias(models.Model):
    """Another name a gateway client may ask for this agent by (the `model` of a chat
    completion), e.g. "Bull Researcher" for `bull_researcher`. Matched
    case-insensitively; `name_key` (the lower-cased name) is unique across agents, so
    two agents can never answer to one name, whichever process saves them."""

    agent = models.ForeignKey(AgentConfig, on_delete=models.CASCADE, related_name="alias_rows")
    name = models.CharField(max_length=120)
    name_key = models.CharField(max_length=120, unique=True, editable=False)

    class Meta:
        db_table = "agent_aliases"
        ordering = ["agent_id", "name"]
        verbose_name = "agent alias"
        verbose_name_plural = "agent aliases"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.name = " ".join((self.name or "").split())
        key = alias_key(self.name)
        taken = AgentAlias.objects.filter(name_key=key).exclude(pk=self.pk).select_related("agent").first()
        if taken is not None:
            raise ValidationError({"name": f"'{taken.name}' is already an alias of agent '{taken.agent.name}'."})
        clash = AgentConfig.objects.filter(name=key).exclude(pk=self.agent_id).first()
        if clash is not None:
            raise ValidationError({"name": f"'{self.name}' is the name of agent '{clash.name}'."})

    def save(self, *args: object, **kwargs: object) -> None:
        self.name_key = alias_key(self.name)
        super().save(*args, **kwargs)  # type: ignore[arg-type]


def alias_key(name: str) -> str:
    """How a requested model name is matched: case and surrounding space ignored."""
    return " ".join(name.split()).casefold()


class AgentLLMConfig(models.Model):
    """One LLM setting of an agent. The enabled config with the lowest priority is the
    agent's primary; the others are tried after it, in priority order."""

    agent = models.ForeignKey(AgentConfig, on_delete=models.CASCADE, related_name="llm_configs")
    provider = models.ForeignKey(LLMProvider, on_delete=models.PROTECT, related_name="llm_configs")
    model_name = models.CharField(max_length=200)
    temperature = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)], help_text="0 to 2."
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty for the model's default."
    )
    top_p = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="0 to 1."
    )
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_last4 = models.CharField(max_length=4, blank=True, editable=False)
    key_version = models.PositiveIntegerField(default=0, editable=False)
    fallback_provider = models.ForeignKey(
        LLMProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="fallback_llm_configs"
    )
    fallback_model = models.CharField(max_length=200, blank=True)
    cost_per_1k_input_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=0,
        help_text="USD. 0 takes the price from the price catalog.",
    )
    cost_per_1k_output_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=0,
        help_text="USD. 0 takes the price from the price catalog.",
    )
    cost_per_1k_cached_input_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True,
        help_text="USD, for input tokens read from the vendor's cache, with explicit prices. "
        "Empty charges them at the input price.",
    )
    prices_from_catalog = models.BooleanField(
        default=False, editable=False, help_text="The per-1k prices are the catalog's (filled in or equal).",
    )
    enabled = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(
        default=0, help_text="Lowest enabled priority is the primary; others are fallbacks in order."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    metadata_json = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords(excluded_fields=["api_key_encrypted"])

    class Meta:
        db_table = "agent_llm_configs"
        ordering = ["agent_id", "priority"]
        verbose_name = "agent LLM config"
        indexes = [models.Index(fields=["enabled"], name="agent_llm_configs_enabled")]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "priority"],
                name="agent_llm_config_unique_priority",
                violation_error_message="This agent already has an LLM config with this priority.",
            ),
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="agent_llm_config_temperature_range",
                violation_error_message="Temperature must be between 0 and 2.",
            ),
            models.CheckConstraint(
                condition=Q(top_p__isnull=True) | (Q(top_p__gte=0) & Q(top_p__lte=1)),
                name="agent_llm_config_top_p_range",
                violation_error_message="Top-p must be between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(max_tokens__isnull=True) | Q(max_tokens__gt=0),
                name="agent_llm_config_max_tokens_positive",
                violation_error_message="Max tokens must be greater than 0.",
            ),
            models.CheckConstraint(
                condition=Q(fallback_model="") | Q(fallback_provider__isnull=False),
                name="agent_llm_config_fallback_model_needs_provider",
                violation_error_message="A fallback model needs a fallback provider.",
            ),
            models.CheckConstraint(
                condition=Q(cost_per_1k_input_tokens__gte=0) & Q(cost_per_1k_output_tokens__gte=0),
                name="agent_llm_config_costs_not_negative",
                violation_error_message="Costs cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} #{self.priority}: {self.model_name}"

    def clean(self) -> None:
        from providers.catalog import price_per_1k

        errors: dict[str, str | ValidationError] = {}
        if self.fallback_model and not self.fallback_provider_id:
            errors["fallback_provider"] = "A fallback model needs a fallback provider."
        if self.fallback_provider_id and not self.fallback_model:
            errors["fallback_model"] = "Name the model to use on the fallback provider."
        if self.agent_id is not None and self.priority is not None:
            clash = AgentLLMConfig.objects.filter(agent_id=self.agent_id, priority=self.priority)
            if self.pk:
                clash = clash.exclude(pk=self.pk)
            if clash.exists():
                errors["priority"] = ValidationError(  # code "unique": the API answers 409
                    f"This agent already has an LLM config with priority {self.priority}; "
                    "only one config can hold each place (the lowest enabled one is the primary).",
                    code="unique",
                )
        errors.update(unknown_models(
            ("model_name", self.provider_or_none(), self.model_name), ("fallback_model", self.fallback_provider, self.fallback_model),
        ))
        if errors:
            raise ValidationError(errors)
        provider = self.provider_or_none()
        price = price_per_1k(provider.provider_type, self.model_name) if provider is not None else None
        if price is not None and not self.cost_per_1k_input_tokens and not self.cost_per_1k_output_tokens:
            self.cost_per_1k_input_tokens = price.input_per_1k
            self.cost_per_1k_output_tokens = price.output_per_1k
        # Prices equal to the catalog's are the catalog's: responses are then priced by
        # the catalog on their full usage (cached input, cache writes) at request time.
        self.prices_from_catalog = price is not None and (
            Decimal(self.cost_per_1k_input_tokens), Decimal(self.cost_per_1k_output_tokens)
        ) == (price.input_per_1k, price.output_per_1k)

    def provider_or_none(self) -> LLMProvider | None:
        return self.provider if self.provider_id else None

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    @property
    def api_key_hint(self) -> str:
        return crypto.hint(self.api_key_last4)


def unknown_models(*fields: tuple[str, LLMProvider | None, str]) -> dict[str, str]:
    """For each (field, provider, model name), an error when the provider does not know
    the model (with the closest names it knows)."""
    from providers.catalog import closest_models, is_known_model

    errors: dict[str, str] = {}
    for field, provider, name in fields:
        if provider is None or not name:
            continue
        if not is_known_model(provider.provider_type, name, provider.available_models):
            suggestions = closest_models(provider.provider_type, name, provider.available_models)
            hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
            errors[field] = f"Unknown model '{name}' for provider '{provider.name}' ({provider.provider_type}).{hint}"
    return errors


class TaskConfig(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    prompt_template = models.TextField(
        help_text="Python format string; {placeholders} are filled from the run's input."
    )
    response_schema = models.JSONField(default=dict, help_text="JSON Schema every answer must match.")
    schema_version = models.PositiveIntegerField(default=1, editable=False)
    output_retries = models.PositiveSmallIntegerField(
        default=2, help_text="How often an invalid answer is sent back to the model before moving on."
    )
    timeout_seconds = models.PositiveIntegerField(default=120)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "task_configs"
        ordering = ["name"]
        verbose_name = "task"

    def __str__(self) -> str:
        return self.name


class TaskSchemaVersion(models.Model):
    task = models.ForeignKey(TaskConfig, on_delete=models.CASCADE, related_name="schema_versions")
    number = models.PositiveIntegerField()
    schema = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "task_schema_versions"
        ordering = ["task_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["task", "number"], name="task_schema_version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.task.name} v{self.number}"


class AgentTaskAssignment(models.Model):
    agent = models.ForeignKey(AgentConfig, on_delete=models.CASCADE, related_name="assignments")
    task = models.ForeignKey(TaskConfig, on_delete=models.CASCADE, related_name="assignments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "agent_task_assignments"
        ordering = ["agent_id", "task_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "task"],
                name="agent_task_assignment_unique",
                violation_error_message="This agent is already assigned to this task.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} → {self.task.name}"



class LLMPreset(models.Model):
    """Named LLM settings applied to many agents at once (e.g. TradingAgents' `quick`
    and `deep` tiers): applying one upserts each agent's primary LLM config."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    provider = models.ForeignKey(LLMProvider, on_delete=models.PROTECT, related_name="presets")
    model_name = models.CharField(max_length=200)
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_tokens = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    top_p = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    fallback_provider = models.ForeignKey(
        LLMProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="fallback_presets"
    )
    fallback_model = models.CharField(max_length=200, blank=True)
    cost_per_1k_input_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="USD. 0 takes the price from the price catalog.",
    )
    cost_per_1k_output_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="USD. 0 takes the price from the price catalog.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "llm_presets"
        ordering = ["name"]
        verbose_name = "LLM preset"

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_id and self.provider.name}/{self.model_name})"

    def clean(self) -> None:
        if bool(self.fallback_model) != bool(self.fallback_provider_id):
            raise ValidationError({"fallback_model": "A fallback needs both a provider and a model."})

    def config_fields(self) -> dict[str, object]:
        """What applying this preset sets on an agent's primary config."""
        fields: dict[str, object] = {
            "provider": self.provider, "model_name": self.model_name, "temperature": self.temperature,
            "max_tokens": self.max_tokens, "top_p": self.top_p, "fallback_provider": self.fallback_provider,
            "fallback_model": self.fallback_model,
        }
        if self.cost_per_1k_input_tokens or self.cost_per_1k_output_tokens:
            fields["cost_per_1k_input_tokens"] = self.cost_per_1k_input_tokens
            fields["cost_per_1k_output_tokens"] = self.cost_per_1k_output_tokens
        return fields


class Lineup(models.Model):
    """A named mix of models, one per role (agent), that a session is opened with: its
    calls for an agent the lineup names are routed by the lineup's entry, the rest by
    the agents' own configs. Unlike applying a preset, nothing of the agents changes,
    so two sessions with different lineups can run at once."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        db_table = "lineups"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ModelSetting:
    """The model a lineup's role is routed to: its own settings or its preset's."""

    provider: LLMProvider
    model_name: str
    temperature: float
    max_tokens: int | None
    top_p: float | None
    fallback_provider: LLMProvider | None
    fallback_model: str
    cost_per_1k_input_tokens: Decimal
    cost_per_1k_output_tokens: Decimal
    cost_per_1k_cached_input_tokens: Decimal | None = None  # charged at the input price

    @property
    def explicit_prices(self) -> bool:
        """Prices given and not the catalog's (prices equal to the catalog's are the
        catalog's: it prices the full usage, as for an LLM config)."""
        from providers.catalog import price_per_1k

        given = (Decimal(self.cost_per_1k_input_tokens), Decimal(self.cost_per_1k_output_tokens))
        if not any(given):
            return False
        price = price_per_1k(self.provider.provider_type, self.model_name)
        return price is None or given != (price.input_per_1k, price.output_per_1k)


class LineupRole(models.Model):
    """One row of a lineup: an agent and its model (provider, vendor model, sampling,
    fallback, prices), or a preset by name."""

    lineup = models.ForeignKey(Lineup, on_delete=models.CASCADE, related_name="roles")
    agent = models.ForeignKey(AgentConfig, on_delete=models.CASCADE, related_name="lineup_roles")
    preset = models.ForeignKey(
        LLMPreset, on_delete=models.PROTECT, null=True, blank=True, related_name="lineup_roles",
        help_text="Use this preset's model; leave the model fields empty.",
    )
    provider = models.ForeignKey(
        LLMProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="lineup_roles",
    )
    model_name = models.CharField(max_length=200, blank=True)
    temperature = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)], help_text="0 to 2.",
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty for the model's default.",
    )
    top_p = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="0 to 1.",
    )
    fallback_provider = models.ForeignKey(
        LLMProvider, on_delete=models.PROTECT, null=True, blank=True, related_name="fallback_lineup_roles",
    )
    fallback_model = models.CharField(max_length=200, blank=True)
    cost_per_1k_input_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="USD. 0 takes the price from the price catalog.",
    )
    cost_per_1k_output_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="USD. 0 takes the price from the price catalog.",
    )

    history = HistoricalRecords()

    class Meta:
        db_table = "lineup_roles"
        ordering = ["lineup_id", "agent_id"]
        verbose_name = "role"
        constraints = [
            models.UniqueConstraint(
                fields=["lineup", "agent"], name="lineup_role_unique_agent",
                violation_error_message="This lineup already has a row for this agent.",
            ),
            models.CheckConstraint(
                condition=(Q(preset__isnull=False) & Q(provider__isnull=True) & Q(model_name=""))
                | (Q(preset__isnull=True) & Q(provider__isnull=False) & ~Q(model_name="")),
                name="lineup_role_preset_or_model",
                violation_error_message="A role names either a preset or a provider and model.",
            ),
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="lineup_role_temperature_range",
                violation_error_message="Temperature must be between 0 and 2.",
            ),
            models.CheckConstraint(
                condition=Q(fallback_model="") | Q(fallback_provider__isnull=False),
                name="lineup_role_fallback_model_needs_provider",
                violation_error_message="A fallback model needs a fallback provider.",
            ),
            models.CheckConstraint(
                condition=Q(cost_per_1k_input_tokens__gte=0) & Q(cost_per_1k_output_tokens__gte=0),
                name="lineup_role_costs_not_negative",
                violation_error_message="Costs cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        target = f"preset {self.preset.name}" if self.preset_id else self.model_name
        return f"{self.agent.name}: {target}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        own = any((self.provider_id, self.model_name, self.fallback_provider_id, self.fallback_model))
        if self.preset_id is not None and own:
            errors["preset"] = "Give either a preset or a provider and model (and fallback), not both."
        elif self.preset_id is None and self.provider_id is None:
            errors["provider"] = "Name a provider and model, or a preset."
        elif self.preset_id is None and not self.model_name:
            errors["model_name"] = "Name the model to use on the provider."
        if self.fallback_model and not self.fallback_provider_id:
            errors["fallback_provider"] = "A fallback model needs a fallback provider."
        if self.fallback_provider_id and not self.fallback_model:
            errors["fallback_model"] = "Name the model to use on the fallback provider."
        if self.preset_id is None:
            errors.update(unknown_models(
                ("model_name", self.provider if self.provider_id else None, self.model_name),
                ("fallback_model", self.fallback_provider, self.fallback_model),
            ))
        if errors:
            raise ValidationError(errors)

    def setting(self) -> ModelSetting:
        source: LineupRole | LLMPreset = self.preset if self.preset_id is not None else self  # type: ignore[assignment]
        assert source.provider is not None
        return ModelSetting(
            provider=source.provider, model_name=source.model_name, temperature=source.temperature,
            max_tokens=source.max_tokens, top_p=source.top_p,
            fallback_provider=source.fallback_provider if source.fallback_provider_id else None,
            fallback_model=source.fallback_model, cost_per_1k_input_tokens=source.cost_per_1k_input_tokens,
            cost_per_1k_output_tokens=source.cost_per_1k_output_tokens,
        )
