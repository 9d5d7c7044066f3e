"""Planners' analyses on a TIM: sunlight hours of proposals (日照, GB 50180-2018) and the
15-minute community life circle (社区生活圈, TD/T 1062-2021). Each module reads its editable
rule file beside it."""
