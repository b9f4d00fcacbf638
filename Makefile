# Two commands do everything on a fresh machine:
#   make demo   set up .venv, generate sample storefront traffic, run the pipeline, print a summary
#   make test   set up .venv and run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CDPFLOW_HOME ?= $(CURDIR)/cdpflow_home
DEMO_DAYS ?= 14
DEMO_VISITORS ?= 2000

# Superset pins versions that conflict with Airflow and dbt, so it lives in its own venv, cached by version
SUPERSET_VERSION ?= 6.1.0
SUPERSET_VENV ?= $(HOME)/.cache/cdpflow/superset-$(SUPERSET_VERSION)

.PHONY: setup demo test lint bench clean superset

# The install compiles events_incremental's fast path (src/cdpflow/engine/_fast_flatten.c).
$(BIN)/cdpflow: pyproject.toml src/cdpflow/engine/_fast_flatten.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

setup: $(BIN)/cdpflow

demo: setup
	@echo "== cdpflow demo in $(CDPFLOW_HOME) (its lake is rebuilt from scratch)"
	rm -rf "$(CDPFLOW_HOME)/lake" "$(CDPFLOW_HOME)/work"
	$(BIN)/cdpflow generate-sample --days $(DEMO_DAYS) --visitors $(DEMO_VISITORS) --seed 42
	@echo "== the shop export as ELT pipeline shop (examples/pipelines, examples/identity.yaml copied into $(CDPFLOW_HOME) unless there)"
	@mkdir -p "$(CDPFLOW_HOME)/pipelines"
	@for f in examples/pipelines/*.yml; do [ -e "$(CDPFLOW_HOME)/pipelines/$${f##*/}" ] || \
	  cp "$$f" "$(CDPFLOW_HOME)/pipelines/"; done
	@[ -e "$(CDPFLOW_HOME)/identity.yaml" ] || cp examples/identity.yaml "$(CDPFLOW_HOME)/identity.yaml"
	$(BIN)/cdpflow run elt_shop
	$(BIN)/cdpflow run events_incremental
	$(BIN)/cdpflow run id_stitching_incremental
	$(BIN)/cdpflow run events_unified_view attribution campaign retention
	@echo; echo "== lake tables"
	@$(BIN)/cdpflow tables
	@echo; echo "== core_events by payload format and type"
	@$(BIN)/cdpflow sql "SELECT payload_format, event_type, count(*) AS events, \
	  count(DISTINCT anonymous_id) AS devices, count(DISTINCT order_id) AS orders, \
	  round(sum(revenue), 2) AS revenue FROM core_events GROUP BY ALL ORDER BY ALL"
	@echo; echo "== landing traffic by source / medium"
	@$(BIN)/cdpflow sql "SELECT coalesce(utm_source, '(none)') AS utm_source, \
	  coalesce(utm_medium, '(none)') AS utm_medium, count(*) AS landings \
	  FROM core_events WHERE event_type = 'page' AND (utm_source IS NOT NULL OR gclid IS NOT NULL \
	  OR fbclid IS NOT NULL) GROUP BY ALL ORDER BY landings DESC LIMIT 8"
	@echo; echo "== people (identity stitching)"
	@$(BIN)/cdpflow sql "SELECT count(DISTINCT global_user_id) AS people, count(*) AS identifiers, \
	  count(*) FILTER (identifier_type = 'anonymous_id') AS devices, \
	  count(*) FILTER (identifier_type = 'email') AS emails FROM identities"
	@echo; echo "== sessions by channel (GA4 default channel grouping)"
	@$(BIN)/cdpflow sql "SELECT channel, count(*) AS sessions, count(DISTINCT global_user_id) AS people, \
	  round(avg(is_engaged::int) * 100, 1) AS engaged_pct, sum(conversions) AS orders, \
	  round(sum(revenue), 2) AS revenue FROM sessions GROUP BY ALL ORDER BY sessions DESC"
	@echo; echo "== orders online and from the shop export (cancelled left out, revenue net of refunds)"
	@$(BIN)/cdpflow sql "SELECT order_source, count(*) AS orders, round(sum(revenue), 2) AS revenue, \
	  round(sum(refunded), 2) AS refunded FROM conversions GROUP BY ALL ORDER BY ALL"
	@echo; echo "== customer_360: shop customers and their visits (names, country, consent from the export)"
	@$(BIN)/cdpflow sql "SELECT count(*) FILTER (first_name IS NOT NULL) AS shop_customers, \
	  count(*) FILTER (first_name IS NOT NULL AND sessions > 0) AS also_online, \
	  sum(orders) AS orders, round(sum(revenue), 2) AS revenue FROM customer_360"
	@$(BIN)/cdpflow sql "SELECT first_name, last_name, country, accepts_marketing, sessions, orders, \
	  round(revenue, 2) AS revenue FROM customer_360 WHERE first_name IS NOT NULL AND sessions > 0 \
	  ORDER BY revenue DESC, global_user_id LIMIT 5"
	@echo; echo "== revenue by channel under each attribution model"
	@$(BIN)/cdpflow sql "PIVOT (SELECT channel, model, revenue_credit FROM attribution) \
	  ON model USING round(sum(revenue_credit), 2) GROUP BY channel ORDER BY last_touch DESC"
	@echo; echo "== weekly activity retention"
	@$(BIN)/cdpflow sql "SELECT cohort_start, period_number, cohort_size, retained_users, \
	  round(retention_rate * 100, 1) AS pct FROM retention WHERE retention_type = 'activity' \
	  AND granularity = 'week' ORDER BY ALL"
	@echo; echo "== quarantined input"
	@$(BIN)/cdpflow sql "SELECT reason_code, count(*) AS n FROM quarantine_events GROUP BY 1 ORDER BY 2 DESC"
	@echo; echo "== entities (examples/entities copied into $(CDPFLOW_HOME)/entities unless there)"
	@mkdir -p "$(CDPFLOW_HOME)/entities"
	@cp -n examples/entities/*.yml "$(CDPFLOW_HOME)/entities/"
	$(BIN)/cdpflow run entity_creation
	@$(BIN)/cdpflow sql "SELECT segment, day, size FROM segment_sizes ORDER BY ALL"
	@$(BIN)/cdpflow sql "SELECT step, step_label, sum(users) AS users FROM funnel_steps \
	  WHERE funnel = 'purchase' GROUP BY ALL ORDER BY step"
	@echo; echo "== HTML report (open it in a browser; it needs no server or network)"
	@$(BIN)/cdpflow report --out "$(CDPFLOW_HOME)/report.html" --days $(DEMO_DAYS)

superset: $(SUPERSET_VENV)/bin/superset

$(SUPERSET_VENV)/bin/superset:
	@echo "== installing Apache Superset $(SUPERSET_VERSION) into $(SUPERSET_VENV) (takes a few minutes)"
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --quiet 'apache-superset==$(SUPERSET_VERSION)' \
	  'duckdb-engine>=0.17' 'duckdb>=1.4.2,<2' 'flask-caching<2.4' cachetools rich
	touch $@

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/events_incremental.py
	$(BIN)/python bench/compression.py
	$(BIN)/python bench/collector.py
	$(BIN)/python bench/analytics.py

clean:
	rm -rf $(VENV) cdpflow_home
