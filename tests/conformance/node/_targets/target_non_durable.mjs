// Invoke target: a plain (non-durable) Lambda-style function that returns a value.
export const handler = async (event) => ({ nonDurable: true, input: event });
