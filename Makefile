# The two commands of the README. Everything else lives in scripts/.
.PHONY: run test lint format clean

run:  ## install, migrate and start web + worker (+ the API simulator without OPENAI_API_KEY)
	scripts/run

test:  ## install dev tools, lint, run the whole test suite (what CI runs)
	scripts/test

lint:
	scripts/bootstrap dev && .venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	scripts/bootstrap dev && .venv/bin/ruff check --fix . && .venv/bin/ruff format .

clean:
	rm -rf .venv staticfiles .pytest_cache .ruff_cache
