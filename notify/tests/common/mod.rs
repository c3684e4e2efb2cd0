pub mod alert_payload;
