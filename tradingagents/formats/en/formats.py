# Django's date formats for English, as tradingagents.formatting writes times:
# 2026-12-07 11:28:49 (not "Dec. 7, 2026, 11:27 a.m."). Input formats stay Django's.
DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s"
TIME_FORMAT = "H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
