"""Every figure of the measure pages as JSON under /api/v1/analytics/: one router, with one
sub-router per area (KPIs and funnel, attribution, experiments, audit)."""

from ninja import Router
from ninja.security import django_auth

from leadloop.analytics.api_attribution import router as attribution_router
from leadloop.analytics.api_audit import router as audit_router
from leadloop.analytics.api_experiments import router as experiments_router
from leadloop.analytics.api_kpis import router as kpis_router

router = Router(tags=["measure"], auth=django_auth)
router.add_router("", attribution_router)
router.add_router("", audit_router)
router.add_router("", experiments_router)
router.add_router("", kpis_router)
