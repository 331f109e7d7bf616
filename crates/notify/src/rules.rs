//! What `POST /subscriptions` and `PATCH /subscriptions/{id}` accept. (Being written.)
