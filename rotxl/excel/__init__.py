"""What a person opens or clicks: workbooks, sheets, worksheet functions, actions, the team build."""
