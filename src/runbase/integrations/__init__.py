"""Framework integrations, one small module each, importing its framework only when used.

- :mod:`runbase.integrations.lightning` — a Lightning logger (``RunbaseLogger``: hyperparameters,
  metrics, checkpoints as artifacts) and a pruning callback for sweeps (``RunbasePruning``).

Every MLflow integration (Lightning's ``MLFlowLogger``, Hugging Face's ``MLflowCallback``,
``mlflow.keras.autolog``...) also logs to ``runbase server`` unchanged: point
``MLFLOW_TRACKING_URI`` at it.
"""
