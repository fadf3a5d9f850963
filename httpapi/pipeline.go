package httpapi

// registerPipeline registers the event and delivery operations.
func (a *API) registerPipeline() {}
