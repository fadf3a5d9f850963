package httpapi

// registerDeliveries registers the delivery operations.
func (a *API) registerDeliveries() {}
