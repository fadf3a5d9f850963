package httpapi

// registerEvents registers POST/GET /api/v1/events.
func (a *API) registerEvents() {}
