from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stories", "0003_campaign_dice"),
    ]

    operations = [
        migrations.AddField(
            model_name="turn",
            name="check_step",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
