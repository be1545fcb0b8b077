// plugin suite (10-x): not supported yet.
export const NOT_IMPLEMENTED = 'the Node SDK has no plugin API yet (withDurableExecution({plugins}) is refused)';
