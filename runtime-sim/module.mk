# runtime-sim: the simulator's entry points (the library and build/addsim
# come from the Makefile's conventions).
#
#   make sim [SCENARIO=scenarios/restart-loop.txt] [SEED=7] [SEEDS=1..50]
#   make mutants       every known-bug build of the core against the simulator
#   make sim-soak SECONDS=600      random swarm seeds for 10 minutes
#   make sim-soak [SEEDS=1..100]   every scenario over many seeds
#   make BUILD=build/mutant-3 MUTANT=3 build/mutant-3/addsim   one mutant build

SCENARIO ?= scenarios/clean.txt
SEED ?= 1

.PHONY: sim mutants
sim: $(BUILD)/addsim
ifdef SEEDS
	$(BUILD)/addsim --scenario $(SCENARIO) --seeds $(SEEDS)
else
	$(BUILD)/addsim --scenario $(SCENARIO) --seed $(SEED) --check-determinism
endif

mutants: $(BUILD)/addsim
	@tests/suites/60-mutants.sh

# `make sim-soak SECONDS=N`: random swarm seeds until N seconds are up,
# failures printed as replay commands (scripts/sim-soak.sh). Without
# SECONDS: every scenario over SEEDS (default 1..100), every failure reported.
.PHONY: sim-soak
sim-soak: $(BUILD)/addsim
ifdef SECONDS
	@scripts/sim-soak.sh $(SECONDS) $(BUILD)
else
	@rc=0; for f in scenarios/*.txt; do \
		$(BUILD)/addsim --scenario $$f --seeds $(or $(SEEDS),1..100) --keep-going --quiet || rc=1; \
	done; exit $$rc
endif
