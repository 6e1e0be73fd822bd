"""The TradingAgents roster and its tasks, as `manage.py seed` creates them."""

from __future__ import annotations

from typing import Any

# name, display name, role, deep thinker?, instructions
AGENTS: list[tuple[str, str, str, bool, str]] = [
    ("market_analyst", "Market Analyst", "analyst", False,
     "You are a market analyst. Read price action and technical indicators (moving averages, "
     "MACD, RSI, Bollinger bands, volume) and describe the trend, momentum and key levels."),
    ("social_analyst", "Social Media Analyst", "analyst", False,
     "You are a social media and sentiment analyst. Weigh what retail investors and the press "
     "say about the company and summarise the prevailing sentiment and how it is shifting."),
    ("news_analyst", "News Analyst", "analyst", False,
     "You are a news analyst. Digest recent company and macroeconomic news and explain which "
     "items matter for the stock and in which direction."),
    ("fundamentals_analyst", "Fundamentals Analyst", "analyst", False,
     "You are a fundamentals analyst. Assess financial statements, valuation, growth, margins "
     "and balance sheet strength."),
    ("bull_researcher", "Bull Researcher", "researcher", False,
     "You argue the bull case. Build the strongest evidence-based case for buying, and rebut "
     "the bear's points."),
    ("bear_researcher", "Bear Researcher", "researcher", False,
     "You argue the bear case. Build the strongest evidence-based case against buying, and "
     "rebut the bull's points."),
    ("research_manager", "Research Manager", "manager", True,
     "You judge the bull/bear debate. Decide which side is better supported and produce an "
     "investment plan for the trader."),
    ("trader", "Trader", "trader", False,
     "You turn the investment plan into a concrete trade proposal: action, size, entry, stop "
     "and target."),
    ("aggressive_risk_analyst", "Aggressive Risk Analyst", "risk", False,
     "You champion high-reward opportunities and argue for bold positions where the upside "
     "justifies the risk."),
    ("neutral_risk_analyst", "Neutral Risk Analyst", "risk", False,
     "You weigh upside against downside and argue for a balanced position."),
    ("conservative_risk_analyst", "Conservative Risk Analyst", "risk", False,
     "You protect capital. Point out every risk in the proposal and argue for caution."),
    ("portfolio_manager", "Portfolio Manager", "manager", True,
     "You make the final decision on the trade, given the proposal and the risk debate, "
     "within the portfolio's limits."),
    ("reflector", "Reflector", "other", False,
     "You review past decisions against what the market did next and write the lessons down."),
    # TradingAgents builds two models, quick_think_llm and deep_think_llm; a TradingAgents
    # that is not routed per role asks for these two.
    ("quick", "Quick thinker (TradingAgents' quick_think_llm)", "other", False,
     "You answer TradingAgents' quick-thinking calls; they bring their own prompts through the gateway."),
    ("deep", "Deep thinker (TradingAgents' deep_think_llm)", "other", True,
     "You answer TradingAgents' deep-thinking calls; they bring their own prompts through the gateway."),
]

# The names TradingAgents v0.3.0 gives its graph nodes: what its calls ask for when routed
# per role (integrations/tradingagents_gateway.py).
ALIASES: dict[str, list[str]] = {
    "market_analyst": ["Market Analyst"],
    "social_analyst": ["Sentiment Analyst", "Social Analyst"],
    "news_analyst": ["News Analyst"],
    "fundamentals_analyst": ["Fundamentals Analyst"],
    "bull_researcher": ["Bull Researcher"],
    "bear_researcher": ["Bear Researcher"],
    "research_manager": ["Research Manager"],
    "trader": ["Trader"],
    "aggressive_risk_analyst": ["Aggressive Analyst"],
    "neutral_risk_analyst": ["Neutral Analyst"],
    "conservative_risk_analyst": ["Conservative Analyst"],
    "portfolio_manager": ["Portfolio Manager"],
    "reflector": ["Reflector"],
}

# Presets named after TradingAgents' two tiers: (name, deep?, description).
PRESETS: list[tuple[str, bool, str]] = [
    ("quick", False, "TradingAgents' quick_think_llm: every role but the two managers."),
    ("deep", True, "TradingAgents' deep_think_llm: the Research Manager and the Portfolio Manager."),
]

# Lineups: (name, description, {agent: preset}). TradingAgents' own mix: its quick model
# for every role but the two managers, which think deep.
TRADINGAGENTS_QUICK_ROLES = [
    "market_analyst", "social_analyst", "news_analyst", "fundamentals_analyst", "bull_researcher",
    "bear_researcher", "trader", "aggressive_risk_analyst", "neutral_risk_analyst", "conservative_risk_analyst",
]
TRADINGAGENTS_DEEP_ROLES = ["research_manager", "portfolio_manager"]
LINEUPS: list[tuple[str, str, dict[str, str]]] = [
    ("tradingagents-default",
     "TradingAgents' own mix: the quick preset for its ten quick roles, deep for the research and portfolio managers.",
     {**dict.fromkeys(TRADINGAGENTS_QUICK_ROLES, "quick"), **dict.fromkeys(TRADINGAGENTS_DEEP_ROLES, "deep")}),
]

# TradingAgents' rating scales.
PORTFOLIO_RATING = {"type": "string", "enum": ["Buy", "Overweight", "Hold", "Underweight", "Sell"],
                    "description": "Five-step rating: reserve Hold for genuinely balanced evidence."}
TRADER_ACTION = {"type": "string", "enum": ["Buy", "Hold", "Sell"], "description": "The transaction direction."}

SIGNAL = {"type": "string", "enum": ["strong_buy", "buy", "hold", "sell", "strong_sell"],
          "description": "Overall direction."}
CONFIDENCE = {"type": "number", "minimum": 0, "maximum": 1, "description": "0 = guess, 1 = certain."}
TICKER = {"type": "string", "pattern": "^[A-Z.]{1,10}$", "description": "Ticker symbol."}

TASKS: list[dict[str, Any]] = [
    {
        "name": "market-analysis",
        "description": "Technical read of the price action.",
        "prompt_template": "Analyse the market for {ticker} as of {date}.",
        "agents": ["market_analyst"],
        "response_schema": {
            "type": "object",
            "properties": {
                "ticker": TICKER,
                "trend": {"type": "string", "enum": ["up", "down", "sideways"]},
                "signal": SIGNAL,
                "confidence": CONFIDENCE,
                "indicators": {
                    "type": "object",
                    "properties": {
                        "rsi": {"type": "number", "minimum": 0, "maximum": 100},
                        "macd": {"type": "number"},
                        "above_sma_50": {"type": "boolean"},
                    },
                    "required": ["rsi", "macd", "above_sma_50"],
                    "additionalProperties": False,
                },
                "key_levels": {
                    "type": "array",
                    "items": {"type": "number", "exclusiveMinimum": 0},
                    "minItems": 1,
                    "maxItems": 6,
                },
                "summary": {"type": "string", "minLength": 1, "maxLength": 2000},
            },
            "required": ["ticker", "trend", "signal", "confidence", "indicators", "key_levels", "summary"],
            "additionalProperties": False,
        },
    },
    {
        "name": "sentiment-report",
        "description": "Social media and press sentiment.",
        "prompt_template": "Report the sentiment about {ticker} over the last {days} days.",
        "agents": ["social_analyst"],
        "response_schema": {
            "type": "object",
            "properties": {
                "ticker": TICKER,
                "sentiment_score": {"type": "number", "minimum": -1, "maximum": 1},
                "mood": {"type": "string", "enum": ["euphoric", "positive", "neutral", "negative", "panic"]},
                "volume_change_pct": {"type": "number"},
                "themes": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 10},
                "summary": {"type": "string", "maxLength": 2000},
            },
            "required": ["ticker", "sentiment_score", "mood", "themes", "summary"],
            "additionalProperties": False,
        },
    },
    {
        "name": "news-digest",
        "description": "The news that matters for the stock.",
        "prompt_template": "Digest the news relevant to {ticker} as of {date}.",
        "agents": ["news_analyst"],
        "response_schema": {
            "type": "object",
            "properties": {
                "ticker": TICKER,
                "items": {
                    "type": "array",
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "properties": {
                            "headline": {"type": "string", "maxLength": 300},
                            "impact": {"type": "string", "enum": ["positive", "negative", "neutral"]},
                            "importance": {"type": "integer", "minimum": 1, "maximum": 5},
                        },
                        "required": ["headline", "impact", "importance"],
                        "additionalProperties": False,
                    },
                },
                "macro_outlook": {"type": "string", "enum": ["supportive", "neutral", "hostile"]},
                "summary": {"type": "string", "maxLength": 2000},
            },
            "required": ["ticker", "items", "macro_outlook", "summary"],
            "additionalProperties": False,
        },
    },
    {
        "name": "fundamentals-report",
        "description": "Valuation and financial health.",
        "prompt_template": "Assess the fundamentals of {ticker} from its latest filings.",
        "agents": ["fundamentals_analyst"],
        "response_schema": {
            "type": "object",
            "properties": {
                "ticker": TICKER,
                "valuation": {"type": "string", "enum": ["undervalued", "fair", "overvalued"]},
                "metrics": {
                    "type": "object",
                    "properties": {
                        "pe_ratio": {"type": ["number", "null"]},
                        "revenue_growth_pct": {"type": "number"},
                        "gross_margin_pct": {"type": "number", "minimum": -100, "maximum": 100},
                        "debt_to_equity": {"type": "number", "minimum": 0},
                    },
                    "required": ["pe_ratio", "revenue_growth_pct", "gross_margin_pct", "debt_to_equity"],
                    "additionalProperties": False,
                },
                "strengths": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                "weaknesses": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
                "confidence": CONFIDENCE,
            },
            "required": ["ticker", "valuation", "metrics", "strengths", "weaknesses", "confidence"],
            "additionalProperties": False,
        },
    },
    {
        "name": "research-debate",
        "description": "One side's argument in the bull/bear debate, or the manager's verdict.",
        "prompt_template": "Debate {ticker}. Analyst reports: {reports}",
        "agents": ["bull_researcher", "bear_researcher", "research_manager"],
        "response_schema": {
            "type": "object",
            "properties": {
                "stance": {"type": "string", "enum": ["bull", "bear", "neutral"]},
                "arguments": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 8,
                    "items": {
                        "type": "object",
                        "properties": {
                            "claim": {"type": "string", "maxLength": 500},
                            "evidence": {"type": "string", "maxLength": 1000},
                            "strength": {"type": "integer", "minimum": 1, "maximum": 5},
                        },
                        "required": ["claim", "evidence", "strength"],
                        "additionalProperties": False,
                    },
                },
                "recommendation": SIGNAL,
                "confidence": CONFIDENCE,
            },
            "required": ["stance", "arguments", "recommendation", "confidence"],
            "additionalProperties": False,
        },
    },
    {
        "name": "trade-proposal",
        "description": "A concrete trade from the investment plan.",
        "prompt_template": "Propose a trade in {ticker} given this plan: {plan}",
        "agents": ["trader"],
        "response_schema": {
            "type": "object",
            "properties": {
                "ticker": TICKER,
                "action": {"type": "string", "enum": ["buy", "sell", "hold"]},
                "quantity": {"type": "integer", "minimum": 0, "maximum": 1000000},
                "order_type": {"type": "string", "enum": ["market", "limit"]},
                "limit_price": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "stop_loss": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "take_profit": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "rationale": {"type": "string", "maxLength": 2000},
            },
            "required": ["ticker", "action", "quantity", "order_type", "limit_price", "stop_loss",
                         "take_profit", "rationale"],
            "additionalProperties": False,
        },
    },
    {
        "name": "risk-assessment",
        "description": "A risk analyst's view of the trade proposal.",
        "prompt_template": "Assess the risk of this proposal: {proposal}",
        "agents": ["aggressive_risk_analyst", "neutral_risk_analyst", "conservative_risk_analyst"],
        "response_schema": {
            "type": "object",
            "properties": {
                "risk_level": {"type": "string", "enum": ["low", "medium", "high", "extreme"]},
                "max_position_pct": {"type": "number", "minimum": 0, "maximum": 100},
                "concerns": {"type": "array", "items": {"type": "string", "maxLength": 500}, "maxItems": 8},
                "adjustments": {
                    "type": "object",
                    "properties": {
                        "quantity_factor": {"type": "number", "minimum": 0, "maximum": 2},
                        "tighter_stop": {"type": "boolean"},
                    },
                    "required": ["quantity_factor", "tighter_stop"],
                    "additionalProperties": False,
                },
                "approve": {"type": "boolean"},
            },
            "required": ["risk_level", "max_position_pct", "concerns", "adjustments", "approve"],
            "additionalProperties": False,
        },
    },
    {
        "name": "portfolio-decision",
        "description": "The final call on the trade.",
        "prompt_template": "Decide on the proposal {proposal} given the risk views {risk_views}.",
        "agents": ["portfolio_manager"],
        "response_schema": {
            "type": "object",
            "properties": {
                "decision": {"type": "string", "enum": ["execute", "modify", "reject"]},
                "final_action": {"type": "string", "enum": ["buy", "sell", "hold"]},
                "final_quantity": {"type": "integer", "minimum": 0},
                "confidence": CONFIDENCE,
                "reasoning": {"type": "string", "maxLength": 3000},
            },
            "required": ["decision", "final_action", "final_quantity", "confidence", "reasoning"],
            "additionalProperties": False,
        },
    },
    # The four structured outputs of TradingAgents v0.3.0, with its rating scales, so that
    # our runs and its calls speak the same shapes.
    {
        "name": "ta-sentiment-report",
        "description": "TradingAgents' SentimentReport: the sentiment analyst's structured report.",
        "prompt_template": "Report the sentiment about {ticker} as of {date}.",
        "agents": ["social_analyst"],
        "response_schema": {
            "type": "object",
            "properties": {
                "overall_band": {"type": "string", "enum": [
                    "Bullish", "Mildly Bullish", "Neutral", "Mixed", "Mildly Bearish", "Bearish"]},
                "overall_score": {"type": "number", "minimum": 0, "maximum": 10,
                                  "description": "0 = very bearish, 10 = very bullish."},
                "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
                "narrative": {"type": "string", "minLength": 1, "maxLength": 8000},
            },
            "required": ["overall_band", "overall_score", "confidence", "narrative"],
            "additionalProperties": False,
        },
    },
    {
        "name": "ta-research-plan",
        "description": "TradingAgents' ResearchPlan: the research manager's investment plan.",
        "prompt_template": "Judge the debate on {ticker} and write the investment plan. Debate: {debate}",
        "agents": ["research_manager"],
        "response_schema": {
            "type": "object",
            "properties": {
                "recommendation": PORTFOLIO_RATING,
                "rationale": {"type": "string", "minLength": 1, "maxLength": 8000},
                "strategic_actions": {"type": "string", "minLength": 1, "maxLength": 8000},
            },
            "required": ["recommendation", "rationale", "strategic_actions"],
            "additionalProperties": False,
        },
    },
    {
        "name": "ta-trader-proposal",
        "description": "TradingAgents' TraderProposal: the trader's transaction proposal.",
        "prompt_template": "Propose a transaction in {ticker} given this plan: {plan}",
        "agents": ["trader"],
        "response_schema": {
            "type": "object",
            "properties": {
                "action": TRADER_ACTION,
                "reasoning": {"type": "string", "minLength": 1, "maxLength": 4000},
                "entry_price": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "stop_loss": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "position_sizing": {"type": ["string", "null"], "maxLength": 200},
            },
            "required": ["action", "reasoning"],
            "additionalProperties": False,
        },
    },
    {
        "name": "ta-portfolio-decision",
        "description": "TradingAgents' PortfolioDecision: the portfolio manager's final rating.",
        "prompt_template": "Decide on {ticker} given the proposal {proposal} and the risk debate {risk_debate}.",
        "agents": ["portfolio_manager"],
        "response_schema": {
            "type": "object",
            "properties": {
                "rating": PORTFOLIO_RATING,
                "executive_summary": {"type": "string", "minLength": 1, "maxLength": 4000},
                "investment_thesis": {"type": "string", "minLength": 1, "maxLength": 8000},
                "price_target": {"type": ["number", "null"], "exclusiveMinimum": 0},
                "time_horizon": {"type": ["string", "null"], "maxLength": 100},
            },
            "required": ["rating", "executive_summary", "investment_thesis"],
            "additionalProperties": False,
        },
    },
]
