"""The runbase server: runbase's native API and MLflow's REST API over one store."""
