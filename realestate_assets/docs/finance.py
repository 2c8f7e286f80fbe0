"""Financial analysis for a memo: ROI, cash flow and cap rate, with every assumption stated.

Only two kinds of input: recorded or modelled facts (price basis, rent, tax, trend) and the
configured assumptions (financing, vacancy, costs). Rent is never assumed: without a rent
figure from the data the rent-based figures are None and `rent_available` is False.
"""

from __future__ import annotations

from typing import Any

from realestate_assets.config_models import FinancialAssumptions


def monthly_payment(principal: float, annual_rate_pct: float, years: int) -> float:
    n = years * 12
    rate = annual_rate_pct / 100.0 / 12.0
    if rate == 0:
        return principal / n
    return principal * rate / (1.0 - (1.0 + rate) ** -n)


def principal_paid_first_year(principal: float, annual_rate_pct: float, years: int) -> float:
    payment, balance, rate = monthly_payment(principal, annual_rate_pct, years), principal, annual_rate_pct / 1200.0
    for _ in range(12):
        balance -= payment - balance * rate
    return principal - balance


def financials(*, price: float | None, price_basis: str, rent_monthly: float | None, rent_source: str | None,
               tax_annual: float | None, tax_source: str | None, trend_pct: float | None,
               assumptions: FinancialAssumptions) -> dict[str, Any]:
    a = assumptions
    result: dict[str, Any] = {"available": price is not None and price > 0, "price": price,
                              "price_basis": price_basis, "rent_available": rent_monthly is not None,
                              "rent_monthly": rent_monthly, "rent_source": rent_source}
    if not result["available"]:
        return result
    down = price * a.down_payment_pct / 100.0
    closing = price * a.closing_costs_pct / 100.0
    loan = price - down
    payment = monthly_payment(loan, a.interest_rate_pct, a.loan_term_years)
    tax_assumed = tax_annual is None
    if tax_assumed:
        tax_annual, tax_source = price * a.property_tax_pct_of_value / 100.0, (
            f"assumed {a.property_tax_pct_of_value:g}% of the price (no tax amount on record)")
    insurance = price * a.insurance_pct_of_value / 100.0
    maintenance = price * a.maintenance_pct_of_value / 100.0
    result.update({
        "down_payment": down, "closing_costs": closing, "cash_invested": down + closing, "loan_amount": loan,
        "monthly_mortgage": payment, "annual_debt_service": payment * 12, "tax_annual": tax_annual,
        "tax_assumed": tax_assumed,
        "tax_source": tax_source, "insurance_annual": insurance, "maintenance_annual": maintenance,
        "gross_rent_annual": None, "vacancy_loss": None, "management_annual": None, "operating_expenses": None,
        "noi": None, "cap_rate_pct": None, "annual_cash_flow": None, "monthly_cash_flow": None,
        "cash_on_cash_pct": None, "total_return_1y_pct": None,
    })
    if rent_monthly is not None:
        gross = rent_monthly * 12.0
        vacancy = gross * a.vacancy_pct / 100.0
        management = (gross - vacancy) * a.management_pct / 100.0
        expenses = tax_annual + insurance + maintenance + management
        noi = gross - vacancy - expenses
        cash_flow = noi - payment * 12
        appreciation = price * (trend_pct or 0.0) / 100.0
        paydown = principal_paid_first_year(loan, a.interest_rate_pct, a.loan_term_years)
        result.update({
            "gross_rent_annual": gross, "vacancy_loss": vacancy, "management_annual": management,
            "operating_expenses": expenses, "noi": noi, "cap_rate_pct": noi / price * 100.0,
            "annual_cash_flow": cash_flow, "monthly_cash_flow": cash_flow / 12.0,
            "cash_on_cash_pct": cash_flow / (down + closing) * 100.0,
            "appreciation_1y": appreciation if trend_pct is not None else None,
            "principal_paydown_1y": paydown,
            "total_return_1y_pct": ((cash_flow + paydown + appreciation) / (down + closing) * 100.0
                                    if trend_pct is not None else None),
        })
    result["assumptions"] = [
        f"purchase at {price_basis}",
        f"{a.down_payment_pct:g}% down, {a.interest_rate_pct:g}% fixed for {a.loan_term_years} years, "
        f"closing costs {a.closing_costs_pct:g}% of the price",
        f"vacancy {a.vacancy_pct:g}% of gross rent, management {a.management_pct:g}% of collected rent",
        f"maintenance {a.maintenance_pct_of_value:g}% and insurance {a.insurance_pct_of_value:g}% of the price "
        "per year",
        f"property tax: {tax_source}",
        (f"rent: {rent_source}" if rent_monthly is not None else "rent: no rent figure in the data"),
        ("appreciation: the county's trailing 12-month trend continues for one year"
         if trend_pct is not None else "appreciation: no market trend available, not included"),
    ]
    return result
