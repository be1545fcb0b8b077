"""plugin suite (10-x): not supported yet."""

NOT_IMPLEMENTED = "Perdure's SDK has no plugin API yet (durable_execution(plugins=...) and the plugin hooks are not implemented)"
