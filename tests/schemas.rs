//! The JSON Schemas in events/ agree with the contract: every fixture and every README
//! example validates, and events the contract refuses are refused by the schemas too.
